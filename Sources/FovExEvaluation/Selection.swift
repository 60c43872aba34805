import FovExTensor

/// Which images of a data set a run covers: a seeded subset, then a deterministic shard.
public struct Selection: Sendable, Codable, Equatable {
    /// Keep at most this many images (chosen by a seeded shuffle), or all.
    public var limit: Int?
    /// Seed of the shuffle that picks `limit` images.
    public var seed: UInt64
    /// Shard `index` of `count` (0-based index): images whose position in the selected list is ≡ index mod count.
    public var shardIndex: Int
    /// The number of shards.
    public var shardCount: Int

    /// A selection of at most `limit` images shuffled with `seed`, then shard `shardIndex` of `shardCount`.
    public init(limit: Int? = nil, seed: UInt64 = 42, shardIndex: Int = 0, shardCount: Int = 1) {
        self.limit = limit
        self.seed = seed
        self.shardIndex = shardIndex
        self.shardCount = shardCount
    }

    /// Parses `I/N` with 0 ≤ I < N.
    public static func parseShard(_ s: String) -> (index: Int, count: Int)? {
        let parts = s.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n > 0, i >= 0, i < n else { return nil }
        return (i, n)
    }

    /// The ids this selection keeps, in processing order. Sharding happens after the subset is
    /// chosen, so the union of all shards is exactly the unsharded selection.
    public func apply(to ids: [String]) -> [String] {
        var chosen = ids.sorted()
        if let limit, limit < chosen.count {
            var g = SeededGenerator(seed: seed)
            for i in stride(from: chosen.count - 1, to: 0, by: -1) {
                let j = Int(g.next() % UInt64(i + 1))
                chosen.swapAt(i, j)
            }
            chosen = Array(chosen.prefix(limit)).sorted()
        }
        return chosen.enumerated().filter { $0.offset % shardCount == shardIndex }.map(\.element)
    }
}
