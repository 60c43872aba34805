import CDNNL
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

    /// Weights already in the layout a primitive reads are read in place; any other layout is copied once.
    func testWeightsInTheReadLayoutAreNotCopied() {
        let cache = PackedWeightCache()
        let w = Tensor(shape: [3, 4], scalars: (0..<12).map(Float.init))
        let rowMajor = memoryDesc(dims: [3, 4], tag: dnnl_ab), columnMajor = memoryDesc(dims: [3, 4], tag: dnnl_ba)
        let same = cache.operand(w, as: rowMajor, sourceMD: memoryDesc(dims: [3, 4], strides: [4, 1]), key: "use")
        XCTAssertEqual(same.pointer, UnsafeMutableRawPointer(w.basePointer))
        XCTAssertEqual(cache.derivedBytes(from: [w.storage]), 0)
        let other = cache.operand(w, as: columnMajor, sourceMD: rowMajor, key: "use")
        XCTAssertNotEqual(other.pointer, UnsafeMutableRawPointer(w.basePointer))
        let transposed = other.pointer.assumingMemoryBound(to: Float.self)
        XCTAssertEqual((0..<12).map { transposed[$0] }, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        XCTAssertEqual(cache.derivedBytes(from: [w.storage]), 12 * 4)
    }

    /// A matrix product's B never takes plain row-major layout: oneDNN's GEMM-based kernel reads B with K contiguous
    /// up to 2× faster (docs/results/floor.md), and where oneDNN has a blocked layout of its own it keeps it.
    func testMatrixProductsReadBInTheirFasterLayout() {
        for (m, k, n) in [(196, 256, 1024), (49, 512, 2048), (3136, 64, 256)] {
            let p = matmulPrimitive(src: memoryDesc(dims: [m, k], tag: dnnl_ab), weightsDims: [k, n], type: dnnl_f32,
                                    bias: nil, dst: memoryDesc(dims: [m, n], tag: dnnl_ab), name: "test")
            var (chosen, rowMajor) = (p.queryMD(dnnl_query_weights_md), memoryDesc(dims: [k, n], tag: dnnl_ab))
            XCTAssertEqual(dnnl_memory_desc_equal(&chosen, &rowMajor), 0, "\(m)×\(k)·\(k)×\(n)")
        }
    }
}
