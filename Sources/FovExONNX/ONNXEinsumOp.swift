import Foundation
import FovExTensor

// Einsum on float tensors, contracted one pair of operands at a time as a batched matrix product (the
// form attention products take: "bhid,bhjd->bhij"), with labels that only one operand carries summed away
// first. Repeated labels within one operand (diagonals) are refused.

/// A parsed Einsum equation: one label list per operand and for the output, with an ellipsis expanded to
/// labels of its own.
struct EinsumEquation {
    var operands: [[Character]]
    var output: [Character]

    /// Parses `equation` for operands of the given ranks.
    init(_ equation: String, ranks: [Int]) throws {
        let text = equation.filter { !$0.isWhitespace }
        let sides = text.components(separatedBy: "->")
        guard sides.count <= 2 else { throw KernelError("Einsum: equation '\(equation)' has more than one '->'") }
        let terms = sides[0].components(separatedBy: ",")
        guard terms.count == ranks.count else {
            throw KernelError("Einsum: equation '\(equation)' names \(terms.count) operands, \(ranks.count) given")
        }
        // An ellipsis stands for the leading axes the letters leave over, right-aligned across operands.
        let ellipsisRanks = try zip(terms, ranks).map { term, rank -> Int in
            guard term.contains("...") else {
                guard term.count == rank else { throw KernelError("Einsum: term '\(term)' for an operand of rank \(rank)") }
                return 0
            }
            let letters = term.replacingOccurrences(of: "...", with: "").count
            guard rank >= letters else { throw KernelError("Einsum: term '\(term)' for an operand of rank \(rank)") }
            return rank - letters
        }
        let width = ellipsisRanks.max() ?? 0
        let placeholders = (0..<width).map { Character(UnicodeScalar(0x100 + $0)!) }
        func expand(_ term: String, _ e: Int) throws -> [Character] {
            let pieces = term.components(separatedBy: "...")
            guard pieces.count <= 2 else { throw KernelError("Einsum: term '\(term)' has more than one ellipsis") }
            let letters = Array(pieces.joined())
            guard letters.allSatisfy({ $0.isLetter && $0.isASCII }) else { throw KernelError("Einsum: term '\(term)' is not letters") }
            return pieces.count == 1 ? letters : Array(pieces[0]) + placeholders.suffix(e) + Array(pieces[1])
        }
        operands = try zip(terms, ellipsisRanks).map { try expand($0, $1) }
        if sides.count == 2 {
            output = try expand(sides[1], width)
        } else {
            // Implicit output: the ellipsis, then the letters used once, alphabetically.
            let all = operands.flatMap { $0 }.filter { $0.isASCII }
            output = placeholders + Set(all).filter { c in all.filter { $0 == c }.count == 1 }.sorted()
        }
        guard Set(output).count == output.count, output.allSatisfy({ c in operands.contains { $0.contains(c) } }) else {
            throw KernelError("Einsum: output '\(sides.last!)' of '\(equation)' repeats a label or names one no operand has")
        }
        for term in operands where Set(term).count != term.count {
            throw KernelError("Einsum: repeated labels within one operand (diagonals) are not supported in '\(equation)'")
        }
    }
}

/// `t` with the axes of labels not in `keep` summed away.
private func summing(_ t: Tensor, _ labels: [Character], keeping keep: Set<Character>) -> (Tensor, [Character]) {
    let drop = labels.indices.filter { !keep.contains(labels[$0]) }
    guard !drop.isEmpty else { return (t, labels) }
    return (t.sum(alongAxes: drop, keepingDimensions: false), labels.enumerated().filter { !drop.contains($0.offset) }.map(\.element))
}

/// The product of two labelled operands, keeping the labels in `keep` and contracting the shared others.
private func contract(_ a: Tensor, _ la: [Character], _ b: Tensor, _ lb: [Character], keeping keep: Set<Character>)
    throws -> (Tensor, [Character]) {
    let (a, la) = summing(a, la, keeping: keep.union(lb))
    let (b, lb) = summing(b, lb, keeping: keep.union(la))
    var size: [Character: Int] = [:]
    for (t, l) in [(a, la), (b, lb)] {
        for (c, n) in zip(l, t.shape) {
            if let m = size[c], m != n, m != 1, n != 1 { throw KernelError("Einsum: label '\(c)' has sizes \(m) and \(n)") }
            size[c] = max(size[c] ?? 1, n)
        }
    }
    let batch = la.filter { lb.contains($0) && keep.contains($0) }
    let contracted = la.filter { lb.contains($0) && !keep.contains($0) }
    let aOnly = la.filter { !lb.contains($0) }, bOnly = lb.filter { !la.contains($0) }
    func arranged(_ t: Tensor, _ l: [Character], _ order: [Character]) -> Tensor {
        let p = t.permuted(order.map { l.firstIndex(of: $0)! })
        return p.broadcast(to: order.map { size[$0]! })
    }
    func product(_ labels: [Character]) -> Int { labels.reduce(1) { $0 * size[$1]! } }
    let (nb, m, k, n) = (product(batch), product(aOnly), product(contracted), product(bOnly))
    let x = arranged(a, la, batch + aOnly + contracted).reshaped([nb, m, k])
    let y = arranged(b, lb, batch + contracted + bOnly).reshaped([nb, k, n])
    let labels = batch + aOnly + bOnly
    return (x.matmul(y).reshaped(labels.map { size[$0]! }), labels)
}

extension ONNXOperators {
    static let einsumBuilders: [String: KernelBuilder] = {
        var b: [String: KernelBuilder] = [:]
        b["Einsum"] = { ctx in
            guard let equation = ctx.node.string("equation") else { throw UnsupportedUseError("the equation attribute is missing") }
            return { inputs in
                let operands = try inputs.indices.map { try floatInput(inputs, $0, "Einsum") }
                guard !operands.isEmpty else { throw KernelError("Einsum needs an operand") }
                let parsed = try EinsumEquation(equation, ranks: operands.map(\.rank))
                var (t, labels) = (operands[0], parsed.operands[0])
                if operands.count == 1 {
                    (t, labels) = summing(t, labels, keeping: Set(parsed.output))
                }
                for i in 1..<max(operands.count, 1) {
                    // Keep what the output or a later operand still needs.
                    let later = parsed.operands[(i + 1)...].flatMap { $0 }
                    (t, labels) = try contract(t, labels, operands[i], parsed.operands[i], keeping: Set(parsed.output + later))
                }
                let order = parsed.output.map { labels.firstIndex(of: $0)! }
                return [.float(order == Array(0..<order.count) ? t : t.permuted(order).contiguous())]
            }
        }
        return b
    }()
}
