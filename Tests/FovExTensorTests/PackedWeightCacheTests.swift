import XCTest
@testable import FovExTensor

/// The cache of copies derived from weights (packed layouts, flipped kernels) holds them for as long as the
/// weights live, and no longer.
final class PackedWeightCacheTests: XCTestCase {
    func testACopyIsMadeOncePerWeightAndUse() {
        let cache = PackedWeightCache()
        let w = Tensor(repeating: 1, shape: [4, 4])
        var made = 0
        let make = { () -> TensorStorage in made += 1; return TensorStorage(count: 16, repeating: 2) }
        let first = cache.derived(from: w, key: "use", make: make)
        let again = cache.derived(from: w, key: "use", make: make)
        XCTAssertTrue(first === again)
        XCTAssertEqual(made, 1)
        _ = cache.derived(from: w, key: "other use", make: make)
        XCTAssertEqual(made, 2)
        XCTAssertEqual(cache.derivedBytes(from: [w.storage]), 2 * 16 * 4)
    }

    /// A released weight's copy is dropped at the next insertion instead of being kept (with the weight) until the
    /// cache is full: a program that explains with one model and then another does not hold both.
    func testAReleasedWeightsCopyIsDropped() {
        let cache = PackedWeightCache()
        weak var copy: TensorStorage?
        weak var source: TensorStorage?
        do {
            let w = Tensor(repeating: 1, shape: [64, 64])
            source = w.storage
            copy = cache.derived(from: w, key: "use") { TensorStorage(count: 4096, repeating: 3) }
            XCTAssertNotNil(copy)
        }
        XCTAssertNil(source, "the cache keeps the weight alive")
        let other = Tensor(repeating: 1, shape: [8])
        _ = cache.derived(from: other, key: "use") { TensorStorage(count: 8, repeating: 0) }
        XCTAssertNil(copy, "the released weight's copy is still held")
        XCTAssertEqual(cache.derivedBytes(from: [other.storage]), 8 * 4)
    }
}
