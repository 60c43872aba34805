import Foundation
import FovExModels
import FovExTensor

/// How a captured value is laid out for the caller: the layout the explainers read, made at the capture point
/// so that the graph goes on from it (a reshape applied after capture would be off the gradient's path).
enum ONNXCaptureView {
    /// Attention probabilities [N·heads, T, T] (nn.MultiheadAttention's export) as [N, heads, T, T].
    case headsFolded(heads: Int)
    /// Tokens [T, N, C] (a sequence-first layout) as [N, T, C].
    case sequenceFirst

    func captured(_ t: Tensor) -> Tensor {
        switch self {
        case .headsFolded(let heads): return t.reshaped([t.shape[0] / heads, heads, t.shape[1], t.shape[2]])
        case .sequenceFirst: return t.permuted([1, 0, 2])
        }
    }

    /// The graph's own layout again, from the caller's.
    func restored(_ t: Tensor, as shape: [Int]) -> Tensor {
        switch self {
        case .headsFolded: return t.reshaped(shape)
        case .sequenceFirst: return t.permuted([1, 0, 2])
        }
    }
}

/// What generic attention (GAE) and class-embedding projection need of a Vision Transformer graph, found from
/// its compiled steps: each block's attention Softmax, the attention sub-layer's output (the input of the
/// residual Add after it), and the path from the tokens entering the final normalisation to the logits (the
/// norm, the class token's selection and the head).
struct ONNXTokenSurface {
    /// One transformer block's points.
    struct Block {
        /// The Softmax output: attention probabilities.
        var probabilities: String
        /// The attention sub-layer's output, before the residual sum.
        var output: String
    }

    var blocks: [Block]
    /// The tokens [N, T, C] entering the final normalisation.
    var tokens: String
    /// How many tokens precede the patch grid's.
    var prefix: Int
    /// The prefix tokens the head reads, found by ``examineHead(tokens:logits:program:)``.
    var readOut: [Int] = []
    /// Why the head cannot project single tokens, found by ``examineHead(tokens:logits:program:)``.
    var projectionProblem: String?
    /// The steps from ``tokens`` to the graph's output, in order.
    var tail: [ONNXStep]
    /// Layouts to make at capture, by point.
    var views: [String: ONNXCaptureView]

    /// Finds the surface in `program`, whose values for one image have `shapes`; `tokens` is the classifier's
    /// token CAM point, when it has one. Returns why not, naming what is missing, when the graph lacks a part.
    static func find(program: ONNXProgram, shapes: [String: [Int]], tokens: String?) -> Result<ONNXTokenSurface, ONNXError> {
        func missing(_ what: String) -> Result<ONNXTokenSurface, ONNXError> {
            .failure(ONNXError(file: program.file, problem: what))
        }
        guard let tokens, let tokenShape = shapes[tokens], let grid = ONNXClassifier.tokenGrid(tokenShape), grid.prefix > 0 else {
            return missing("no class token found: no [1, p + h·w, C] token tensor with p ≥ 1 tokens before its patch "
                + "grid enters a final normalisation")
        }
        let t = tokenShape[1]
        let steps = program.steps
        var producer: [String: Int] = [:], readers: [String: [Int]] = [:]
        for (k, s) in steps.enumerated() {
            for o in s.outputs where !o.isEmpty { producer[o] = k }
            // Shape reads only a value's extent: it carries no gradient and is no part of the attention's path.
            guard s.node.opType != "Shape" else { continue }
            for i in s.inputs where !i.isEmpty { readers[i, default: []].append(k) }
        }
        /// Every value computed from `start` (itself included).
        func descendants(of start: String) -> Set<String> {
            var reached: Set<String> = [start]
            for s in steps[((producer[start] ?? -1) + 1)...] where s.inputs.contains(where: reached.contains) {
                reached.formUnion(s.outputs.filter { !$0.isEmpty })
            }
            return reached
        }

        var blocks: [Block] = [], views: [String: ONNXCaptureView] = [:]
        let attention = steps.filter { s in
            guard s.node.opType == "Softmax", let shape = shapes[s.outputs[0]] else { return false }
            let axis = s.node.int("axis", default: program.opset >= 13 ? -1 : 1)
            guard axis == -1 || axis == shape.count - 1 else { return false }
            return (shape.count == 3 || (shape.count == 4 && shape[0] == 1)) && shape.suffix(2) == [t, t]
        }
        guard !attention.isEmpty else {
            return missing("no attention Softmax over \(t)×\(t) token pairs (the \(t) tokens of '\(tokens)')")
        }
        for step in attention {
            let probabilities = step.outputs[0]
            if let shape = shapes[probabilities], shape.count == 3 { views[probabilities] = .headsFolded(heads: shape[0]) }
            // From the Softmax down its only path to the first Add of something not computed from it: the
            // residual sum, whose other input is the attention sub-layer's output.
            let downstream = descendants(of: probabilities)
            var current = probabilities, output: String?
            for _ in 0..<64 {
                guard let r = readers[current], r.count == 1 else { break }
                let next = steps[r[0]]
                if next.node.opType == "Add", next.inputs.count == 2, next.outputs.count == 1 {
                    let other = next.inputs[0] == current ? next.inputs[1] : next.inputs[0]
                    if program.constants[other] == nil && !downstream.contains(other) {
                        output = current
                        break
                    }
                }
                guard next.outputs.count == 1 else { break }
                current = next.outputs[0]
            }
            guard let output, let shape = shapes[output], shape.count == 3, shape[2] == tokenShape[2],
                  [[1, t], [t, 1]].contains(Array(shape.prefix(2))) else {
                return missing("no attention output found after Softmax node '\(step.node.name)': no single path of "
                    + "[1, \(t), C] (or [\(t), 1, C]) values leads from it to a residual Add")
            }
            if shape[0] == t && t != 1 { views[output] = .sequenceFirst }
            blocks.append(Block(probabilities: probabilities, output: output))
        }

        // The path to the output: every step that reads what the tokens lead to; it may read nothing else
        // computed from the input, so that it runs on tokens alone.
        guard let first = producer[tokens] else { return missing("'\(tokens)' is not computed by the graph") }
        var reached: Set<String> = [tokens], tail: [ONNXStep] = []
        for s in steps[(first + 1)...] where s.inputs.contains(where: reached.contains) {
            if let foreign = s.inputs.first(where: { !$0.isEmpty && !reached.contains($0) && program.constants[$0] == nil }) {
                return missing("no head path from '\(tokens)' alone: node '\(s.node.name)' (\(s.node.opType)) also reads '\(foreign)'")
            }
            tail.append(s)
            reached.formUnion(s.outputs.filter { !$0.isEmpty })
        }
        guard reached.contains(program.outputName) else {
            return missing("the output '\(program.outputName)' is not computed from the tokens '\(tokens)'")
        }
        return .success(ONNXTokenSurface(blocks: blocks, tokens: tokens, prefix: grid.prefix, tail: tail, views: views))
    }

    /// The final norm and head on every token: [N, T, C] tokens run as N·T one-token sequences [N·T, 1, C]
    /// through ``tail``, whose class-token selection then picks each token itself.
    func project(_ tokens: Tensor, program: ONNXProgram) throws -> Tensor {
        let (n, t, c) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        var values: [String: ONNXValue] = [self.tokens: .float(tokens.reshaped([n * t, 1, c]))]
        var unused: [String: Tensor] = [:]
        try program.execute(tail, values: &values, captured: &unused)
        let logits = try program.output(of: values)
        guard logits.shape.count == 2, logits.shape[0] == n * t else {
            throw ONNXError(file: program.file, problem: "the head path from '\(self.tokens)' gave \(logits.shape) for "
                + "\(n * t) one-token sequences; it must give one row each")
        }
        return logits.reshaped([n, t, logits.shape[1]])
    }

    /// Finds on one image's tokens and logits which tokens the head path reads (``readOut``) and whether it
    /// projects single tokens (``projectionProblem``); returns why the surface cannot be used when the path does
    /// not give the logits, reads a patch token (a pooled head) or reads no prefix token.
    ///
    /// A token is read when changing it alone changes the logits: each prefix token is changed in turn, then all
    /// patch tokens at once. An unread token leaves the logits bit for bit (each token is normalised alone).
    mutating func examineHead(tokens: Tensor, logits: Tensor, program: ONNXProgram) -> ONNXError? {
        func failure(_ problem: String) -> ONNXError { ONNXError(file: program.file, problem: problem) }
        let (t, c) = (tokens.shape[1], tokens.shape[2])
        func same(_ a: Tensor, _ b: Tensor, within tolerance: Float) -> Bool {
            ONNXTokenSurface.agree(a, b, within: tolerance, of: logits)
        }
        do {
            return try withoutGradients {
                func head(_ x: Tensor) throws -> Tensor {
                    var values: [String: ONNXValue] = [self.tokens: .float(x)]
                    var unused: [String: Tensor] = [:]
                    try program.execute(tail, values: &values, captured: &unused)
                    return try program.output(of: values)
                }
                guard same(try head(tokens), logits, within: 1e-5) else {
                    return failure("the head path from '\(self.tokens)' does not give the logits")
                }
                // A fixed pattern that no layer norm maps back onto the token (it is not a multiple of it).
                let magnitude = max(tokens.scalars.map { abs($0) }.max() ?? 0, 1)
                let pattern = Tensor(shape: [1, 1, c], scalars: (0..<c).map { Float(($0 * 7919) % 13 - 6) / 6 * magnitude })
                func changed(_ rows: Range<Int>) throws -> Bool {
                    let mask = Tensor(shape: [1, t, 1], scalars: (0..<t).map { rows.contains($0) ? 1 : 0 })
                    return !same(try head(tokens + mask * pattern), logits, within: 1e-6)
                }
                guard try !changed(prefix..<t) else {
                    return failure("the head reads the patch tokens of '\(self.tokens)', not only the \(prefix) before "
                        + "them (a pooled head?)")
                }
                readOut = try (0..<prefix).filter { try changed($0..<($0 + 1)) }
                guard !readOut.isEmpty else {
                    return failure("the head reads none of the \(prefix) tokens before the patch grid of '\(self.tokens)'")
                }
                projectionProblem = try checkProjection(tokens: tokens, logits: logits, program: program)
                return nil
            }
        } catch let e as ONNXError {
            return failure("the head path cannot run on the tokens: \(e.problem)")
        } catch {
            return failure("the head path cannot run on the tokens: \(error)")
        }
    }

    /// Why the head path cannot read out single tokens, or nil: projecting the read-out token by itself gives
    /// the logits, and projecting all tokens at once gives each its own row.
    private func checkProjection(tokens: Tensor, logits: Tensor, program: ONNXProgram) throws -> String? {
        guard readOut.count == 1 else {
            return "the head reads \(readOut.count) tokens (\(readOut.map(String.init).joined(separator: " and ")): a "
                + "distilled model's class and distillation tokens?), and a single token has no read-out of its own"
        }
        let t = tokens.shape[1], token = readOut[0]
        func same(_ a: Tensor, _ b: Tensor) -> Bool { ONNXTokenSurface.agree(a, b, within: 1e-3, of: logits) }
        let projected: Tensor, last: Tensor
        do {
            projected = try project(tokens, program: program)
            last = try project(tokens.sliced(axis: 1, (t - 1)..<t), program: program)
        } catch let e as ONNXError {
            return "the head path cannot run on single tokens: \(e.problem)"
        }
        guard same(projected.sliced(axis: 1, token..<(token + 1)), logits) else {
            return "the final norm and head applied to token \(token) of '\(self.tokens)' alone do not give the logits"
        }
        guard same(projected.sliced(axis: 1, (t - 1)..<t), last) else {
            return "the head path from '\(self.tokens)' mixes tokens when run on several at once"
        }
        return nil
    }

    /// Whether `a` and `b` agree element by element within `tolerance` of the largest magnitude of `logits`.
    private static func agree(_ a: Tensor, _ b: Tensor, within tolerance: Float, of logits: Tensor) -> Bool {
        let scale = max(logits.scalars.map { abs($0) }.max() ?? 0, 1e-3)
        return a.count == b.count && zip(a.contiguous().scalars, b.contiguous().scalars).allSatisfy { abs($0 - $1) <= tolerance * scale }
    }
}
