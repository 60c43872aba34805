print("fovex")
