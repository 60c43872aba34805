import Foundation
import FovExTensor

// Element-wise ops: arithmetic with numpy broadcasting, activations, comparisons, Where and Cast. Float
// tensors go through the differentiable tensor ops; integer tensors (shape arithmetic) are computed directly.

extension ONNXOperators {
    static let elementwiseBuilders: [String: KernelBuilder] = {
        var b: [String: KernelBuilder] = [:]
        func arithmetic(_ op: String, _ f: @escaping (Tensor, Tensor) -> Tensor,
                        _ g: @escaping (Int, Int) throws -> Int) {
            b[op] = { _ in
                { inputs in
                    switch (inputs.first ?? nil, inputs.count > 1 ? inputs[1] : nil) {
                    case let (.float(x)?, .float(y)?):
                        guard Tensor.broadcastShape(x.shape, y.shape) != nil else {
                            throw KernelError("\(op): shapes \(x.shape) and \(y.shape) do not broadcast")
                        }
                        return [.float(f(x, y))]
                    case let (.integer(x)?, .integer(y)?):
                        return [.integer(try IntegerTensor.combined(x, y, g))]
                    default:
                        throw KernelError("\(op) needs two float or two integer inputs")
                    }
                }
            }
        }
        arithmetic("Add", +, { $0 &+ $1 })
        arithmetic("Sub", -, { $0 &- $1 })
        arithmetic("Mul", *, { $0 &* $1 })
        arithmetic("Div", /, { a, b in
            guard b != 0 else { throw KernelError("Div: integer division by zero") }
            return a / b
        })

        func unary(_ op: String, _ f: @escaping (Tensor) -> Tensor) {
            b[op] = { _ in { inputs in [.float(f(try floatInput(inputs, 0, op)))] } }
        }
        unary("Relu") { $0.relu() }
        unary("Sigmoid") { $0.sigmoid() }
        unary("Tanh") { $0.tanh() }
        unary("Exp") { $0.exp() }
        unary("Log") { $0.log() }
        unary("Neg") { -$0 }
        unary("Abs") { $0.abs() }
        unary("Sqrt") { $0.sqrt() }
        unary("Erf") { $0.erf() }
        unary("Sin") { $0.sin() }
        unary("Cos") { $0.cos() }
        unary("Reciprocal") { 1 / $0 }
        // log(1 + eˣ) as max(x, 0) + log(1 + e^−|x|): the direct form overflows to ∞ (and its gradient to NaN)
        // beyond x ≈ 88.
        func softplus(_ x: Tensor) -> Tensor { x.relu() + ((-x.abs()).exp() + 1).log() }
        unary("Softplus") { softplus($0) }
        unary("Mish") { $0 * softplus($0).tanh() }
        unary("Softsign") { $0 / ($0.abs() + 1) }
        unary("Sign") { $0.sign() }
        // x for x > 0, else α(eˣ − 1): the exponential reads min(x, 0), so that it is exactly 0 above 0.
        func elu(_ x: Tensor, alpha: Float, divisor: Float = 1) -> Tensor {
            x.relu() + ((-((-x).relu()) * (1 / divisor)).exp() - 1) * alpha
        }
        b["Elu"] = { ctx in
            let alpha = ctx.node.float("alpha", default: 1)
            return { inputs in [.float(elu(try floatInput(inputs, 0, "Elu"), alpha: alpha))] }
        }
        b["Celu"] = { ctx in
            let alpha = ctx.node.float("alpha", default: 1)
            return { inputs in [.float(elu(try floatInput(inputs, 0, "Celu"), alpha: alpha, divisor: alpha))] }
        }
        b["Selu"] = { ctx in
            let alpha = ctx.node.float("alpha", default: 1.67326319217681884765625)
            let gamma = ctx.node.float("gamma", default: 1.05070102214813232421875)
            return { inputs in [.float(elu(try floatInput(inputs, 0, "Selu"), alpha: alpha) * gamma)] }
        }
        // x for x ≥ 0, else slope · x (exactly: the two parts never both contribute).
        func leaky(_ x: Tensor, slope: Tensor) -> Tensor { x.relu() - (-x).relu() * slope }
        b["PRelu"] = { _ in
            { inputs in
                let x = try floatInput(inputs, 0, "PRelu"), slope = try floatInput(inputs, 1, "PRelu")
                guard Tensor.broadcastShape(x.shape, slope.shape) == x.shape else {
                    throw KernelError("PRelu: slope \(slope.shape) does not broadcast to \(x.shape)")
                }
                return [.float(leaky(x, slope: slope))]
            }
        }
        b["LeakyRelu"] = { ctx in
            let alpha = Tensor(ctx.node.float("alpha", default: 0.01))
            return { inputs in [.float(leaky(try floatInput(inputs, 0, "LeakyRelu"), slope: alpha))] }
        }
        // Rounding (shape arithmetic in float: timm's "same" padding takes ceil(size / stride)). The result is a
        // constant: its derivative is zero wherever it exists. Integer inputs are whole already. Round halves to
        // even, as the spec says.
        func rounding(_ op: String, _ rule: FloatingPointRoundingRule) {
            b[op] = { _ in
                { inputs in
                    guard let v = inputs.first ?? nil else { throw KernelError("\(op) needs an input") }
                    guard case .float(let t) = v else { return [v] }
                    return [.float(Tensor(shape: t.shape, scalars: t.scalars.map { $0.rounded(rule) }))]
                }
            }
        }
        rounding("Ceil", .up)
        rounding("Floor", .down)
        rounding("Round", .toNearestOrEven)
        b["HardSigmoid"] = { ctx in
            let alpha = ctx.node.float("alpha", default: 0.2), beta = ctx.node.float("beta", default: 0.5)
            return { inputs in [.float((try floatInput(inputs, 0, "HardSigmoid") * alpha + beta).clamped(min: 0, max: 1))] }
        }
        b["HardSwish"] = { _ in
            { inputs in
                let x = try floatInput(inputs, 0, "HardSwish")
                return [.float(x * (x * (1 / 6) + 0.5).clamped(min: 0, max: 1))]
            }
        }
        b["Gelu"] = { ctx in
            let approximate = ctx.node.string("approximate") ?? "none"
            guard approximate == "none" || approximate == "tanh" else {
                throw UnsupportedUseError("approximate = '\(approximate)' is not supported")
            }
            return { inputs in
                let x = try floatInput(inputs, 0, "Gelu")
                if approximate == "none" { return [.float(x.gelu())] }
                let inner = (x + x * x * x * 0.044715) * 0.7978845608028654
                return [.float(x * 0.5 * (inner.tanh() + 1))]
            }
        }
        b["Pow"] = { _ in
            { inputs in
                let x = try floatInput(inputs, 0, "Pow")
                guard let p = try scalarInput(inputs, 1, "Pow") else { throw KernelError("Pow needs an exponent") }
                return [.float(p == 2 ? x * x : p == 1 ? x : x.pow(p))]
            }
        }
        b["Clip"] = { ctx in
            let legacy = ctx.opset < 11
            return { inputs in
                let x = try floatInput(inputs, 0, "Clip")
                let lower = legacy ? ctx.node.float("min", default: -.infinity) : try scalarInput(inputs, 1, "Clip") ?? -.infinity
                let upper = legacy ? ctx.node.float("max", default: .infinity) : try scalarInput(inputs, 2, "Clip") ?? .infinity
                return [.float(x.clamped(min: lower, max: upper))]
            }
        }
        b["Identity"] = { _ in
            { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Identity needs an input") }
                return [v]
            }
        }
        b["Dropout"] = { ctx in
            // Inference: the identity, and a mask of all true. From opset 12 training_mode is an input; a
            // constant true one (with a non-zero ratio) would ask for random dropping.
            if ctx.opset >= 12, ctx.node.inputs.count > 2, !ctx.node.inputs[2].isEmpty {
                guard case .integer(let training)? = ctx.constant(2) else {
                    throw UnsupportedUseError("a training_mode that is not constant is not supported")
                }
                let ratio = ctx.constant(1).flatMap { v -> Float? in
                    if case .float(let t) = v { return t.scalars.first } else { return nil }
                } ?? 0.5
                if training.values.first != 0 && ratio != 0 {
                    throw UnsupportedUseError("training-mode dropout (random) is not supported")
                }
            }
            let wantsMask = ctx.node.outputs.count > 1 && !ctx.node.outputs[1].isEmpty
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Dropout needs an input") }
                guard wantsMask else { return [v] }
                let mask = IntegerTensor(shape: v.shape, values: [Int](repeating: 1, count: v.shape.reduce(1, *)), isBool: true)
                return [v, .integer(mask)]
            }
        }
        // Comparisons give bool tensors; floats compare as IEEE numbers (−0 equals 0, NaN equals nothing).
        func comparison(_ op: String, _ f: @escaping (Float, Float) -> Bool, _ g: @escaping (Int, Int) -> Bool) {
            b[op] = { _ in
                { inputs in
                    switch (inputs.first ?? nil, inputs.count > 1 ? inputs[1] : nil) {
                    case let (.integer(x)?, .integer(y)?):
                        return [.integer(try IntegerTensor.combined(x, y, bool: true) { g($0, $1) ? 1 : 0 })]
                    case let (.float(x)?, .float(y)?):
                        guard let shape = Tensor.broadcastShape(x.shape, y.shape) else {
                            throw KernelError("\(op): shapes \(x.shape) and \(y.shape) do not broadcast")
                        }
                        let a = x.detached().broadcast(to: shape).scalars, c = y.detached().broadcast(to: shape).scalars
                        return [.integer(IntegerTensor(shape: shape, values: zip(a, c).map { f($0, $1) ? 1 : 0 }, isBool: true))]
                    default:
                        throw KernelError("\(op) needs two inputs of one kind")
                    }
                }
            }
        }
        comparison("Equal", { $0 == $1 }, { $0 == $1 })
        comparison("Greater", { $0 > $1 }, { $0 > $1 })
        comparison("Less", { $0 < $1 }, { $0 < $1 })
        comparison("GreaterOrEqual", { $0 >= $1 }, { $0 >= $1 })
        comparison("LessOrEqual", { $0 <= $1 }, { $0 <= $1 })
        func logic(_ op: String, _ f: @escaping (Bool, Bool) -> Bool) {
            b[op] = { _ in
                { inputs in
                    let x = try integerInput(inputs, 0, op), y = try integerInput(inputs, 1, op)
                    return [.integer(try IntegerTensor.combined(x, y, bool: true) { f($0 != 0, $1 != 0) ? 1 : 0 })]
                }
            }
        }
        logic("And") { $0 && $1 }
        logic("Or") { $0 || $1 }
        logic("Xor") { $0 != $1 }
        // Max, Min, Sum and Mean of one or more inputs, broadcasting. Max and Min pick (ties go to the later
        // input), so the gradient reaches the picked element only.
        func variadic(_ op: String, _ floats: @escaping (Tensor, Tensor) -> Tensor, _ integers: ((Int, Int) -> Int)?,
                      mean: Bool = false) {
            b[op] = { _ in
                { inputs in
                    let values = inputs.compactMap { $0 }
                    guard let first = values.first else { throw KernelError("\(op) needs an input") }
                    switch first {
                    case .float:
                        let tensors = try values.map { v -> Tensor in
                            guard case .float(let t) = v else { throw KernelError("\(op) needs inputs of one kind") }
                            return t
                        }
                        var total = tensors[0]
                        for t in tensors.dropFirst() {
                            guard Tensor.broadcastShape(total.shape, t.shape) != nil else {
                                throw KernelError("\(op): shapes \(total.shape) and \(t.shape) do not broadcast")
                            }
                            total = floats(total, t)
                        }
                        return [.float(mean ? total * (1 / Float(tensors.count)) : total)]
                    case .integer:
                        guard let integers else { throw KernelError("\(op) needs float inputs") }
                        var total = try integerInput(values, 0, op)
                        for i in 1..<values.count { total = try IntegerTensor.combined(total, integerInput(values, i, op), integers) }
                        return [.integer(total)]
                    }
                }
            }
        }
        variadic("Max", { Tensor.select($0.greater(than: $1), $0, $1) }, { Swift.max($0, $1) })
        variadic("Min", { Tensor.select($0.less(than: $1), $0, $1) }, { Swift.min($0, $1) })
        variadic("Sum", +, { $0 &+ $1 })
        variadic("Mean", +, nil, mean: true)
        b["Not"] = { _ in
            { inputs in
                let x = try integerInput(inputs, 0, "Not")
                return [.integer(IntegerTensor(shape: x.shape, values: x.values.map { $0 == 0 ? 1 : 0 }, isBool: true))]
            }
        }
        b["Mod"] = { ctx in
            let fmod = ctx.node.int("fmod", default: 0) != 0
            return { inputs in
                let x = try integerInput(inputs, 0, "Mod"), y = try integerInput(inputs, 1, "Mod")
                return [.integer(try IntegerTensor.combined(x, y) { a, m in
                    guard m != 0 else { throw KernelError("Mod: division by zero") }
                    let r = a % m
                    // Without fmod the result takes the divisor's sign (Python's %).
                    return !fmod && r != 0 && (r < 0) != (m < 0) ? r + m : r
                })]
            }
        }
        b["Where"] = { _ in
            { inputs in
                let condition = try integerInput(inputs, 0, "Where")
                switch (inputs.count > 1 ? inputs[1] : nil, inputs.count > 2 ? inputs[2] : nil) {
                case let (.integer(x)?, .integer(y)?):
                    guard let s = Tensor.broadcastShape(condition.shape, x.shape).flatMap({ Tensor.broadcastShape($0, y.shape) }) else {
                        throw KernelError("Where: shapes \(condition.shape), \(x.shape), \(y.shape) do not broadcast")
                    }
                    let c = try condition.broadcast(to: s), a = try x.broadcast(to: s), d = try y.broadcast(to: s)
                    return [.integer(IntegerTensor(shape: s, values: (0..<c.count).map { c.values[$0] != 0 ? a.values[$0] : d.values[$0] },
                                                   isBool: x.isBool && y.isBool))]
                case let (.float(x)?, .float(y)?):
                    let mask = Tensor(shape: condition.shape, scalars: condition.values.map { $0 != 0 ? 1 : 0 })
                    guard Tensor.broadcastShape(mask.shape, x.shape).flatMap({ Tensor.broadcastShape($0, y.shape) }) != nil else {
                        throw KernelError("Where: shapes \(condition.shape), \(x.shape), \(y.shape) do not broadcast")
                    }
                    return [.float(Tensor.select(mask, x, y))]
                default:
                    throw KernelError("Where needs two value inputs of one kind")
                }
            }
        }
        b["Cast"] = { ctx in
            let to = ctx.node.int("to", default: 1)
            let floatTypes: Set<Int> = [1, 10, 11, 16], integerTypes: Set<Int> = [2, 3, 4, 5, 6, 7, 9, 12, 13]
            guard floatTypes.contains(to) || integerTypes.contains(to) else {
                throw UnsupportedUseError("cast to element type \(to) is not supported")
            }
            return { inputs in
                guard let v = inputs.first ?? nil else { throw KernelError("Cast needs an input") }
                return [try cast(v, toFloat: floatTypes.contains(to), bool: to == 9)]
            }
        }
        // Opset 15: Cast to the second input's element type (newer exporters match constants to tensors this way).
        b["CastLike"] = { _ in
            return { inputs in
                guard inputs.count == 2, let v = inputs[0], let like = inputs[1] else { throw KernelError("CastLike needs two inputs") }
                switch like {
                case .float: return [try cast(v, toFloat: true, bool: false)]
                case .integer(let t): return [try cast(v, toFloat: false, bool: t.isBool)]
                }
            }
        }
        return b
    }()
}

/// `v` as a float tensor, or as an integer one (`bool`: 0 and 1). Floats become integers truncated toward zero,
/// as C++'s `static_cast` in onnxruntime does; NaN, the infinities and values beyond Int's range have no
/// integer value and are an error rather than a trap.
private func cast(_ v: ONNXValue, toFloat: Bool, bool: Bool) throws -> ONNXValue {
    switch (v, toFloat) {
    case (.float, true): return v
    case (.float(let t), false):
        let values = try t.scalars.map { x -> Int in
            if bool { return x != 0 ? 1 : 0 }
            guard let i = Int(exactly: x.rounded(.towardZero)) else { throw KernelError("Cast: \(x) has no integer value") }
            return i
        }
        return .integer(IntegerTensor(shape: t.shape, values: values, isBool: bool))
    case (.integer(let t), true): return .float(Tensor(shape: t.shape, scalars: t.values.map { Float($0) }))
    case (.integer(let t), false):
        return .integer(IntegerTensor(shape: t.shape, values: bool ? t.values.map { $0 != 0 ? 1 : 0 } : t.values, isBool: bool))
    }
}
