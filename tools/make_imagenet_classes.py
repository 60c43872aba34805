#!/usr/bin/env python3
"""Writes Sources/FovExModels/Resources/imagenet_classes.tsv, the resource ImageNetClasses reads: the 1000
ImageNet-1k WordNet synsets and class names in the standard (torchvision/Caffe) index order, one class a line
(`synset<TAB>name`), from the project's shared data (classes.csv: class_index,synset,name).

Usage: make_imagenet_classes.py [CLASSES_CSV]
The file defaults to $FOVEX_DATA/imagenet/classes.csv, with FOVEX_DATA defaulting to ../shared/data relative to
the package root.
"""
import csv
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Sources", "FovExModels", "Resources", "imagenet_classes.tsv")


def main():
    data = os.environ.get("FOVEX_DATA", os.path.join(ROOT, "..", "shared", "data"))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(data, "imagenet", "classes.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if [int(r["class_index"]) for r in rows] != list(range(1000)):
        sys.exit(f"{path}: expected class_index 0…999 in order")

    for r in rows:
        if "\t" in r["synset"] + r["name"] or "\n" in r["synset"] + r["name"]:
            sys.exit(f"{path}: class {r['class_index']} has a tab or line break in its synset or name")
    with open(OUT, "w") as f:
        f.write("".join(f"{r['synset']}\t{r['name']}\n" for r in rows))


if __name__ == "__main__":
    main()
