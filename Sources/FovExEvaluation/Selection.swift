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
        if let limit, limit < chosen.count { chosen = Array(seededOrder(of: ids).prefix(limit)).sorted() }
        return shard(chosen)
    }

    /// Every id in the seeded order a subset is drawn from: a Fisher–Yates shuffle of the sorted ids.
    /// ``apply(to:)`` keeps the first `limit` of this order.
    public func seededOrder(of ids: [String]) -> [String] {
        var order = ids.sorted()
        var g = SeededGenerator(seed: seed)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(g.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }

    /// The subset among images that pass `accept` (the paper's "N correctly classified images"):
    /// walks the seeded order and keeps the first `limit` accepted ids, then shards them.
    ///
    /// Every shard walks the same order with the same test, so every shard computes the same subset,
    /// whatever the shard count; the union of the shards is the unsharded selection. When every
    /// image is accepted the subset is the one ``apply(to:)`` keeps. `accept` is called only until
    /// `limit` ids are accepted; `rejected` lists the ids it refused on the way, in walking order.
    public func apply(to ids: [String], accepting accept: (String) throws -> Bool) rethrows
        -> (ids: [String], rejected: [String]) {
        var chosen: [String] = []
        var rejected: [String] = []
        for id in seededOrder(of: ids) {
            if let limit, chosen.count >= limit { break }
            if try accept(id) { chosen.append(id) } else { rejected.append(id) }
        }
        return (shard(chosen.sorted()), rejected)
    }

    /// This shard's part of a sorted subset: the ids at positions ≡ `shardIndex` mod `shardCount`.
    func shard(_ chosen: [String]) -> [String] {
        chosen.enumerated().filter { $0.offset % shardCount == shardIndex }.map(\.element)
    }
}
