import Foundation

/// An explainer option outside the values the method accepts.
///
/// `option` is the option's name as run records spell it (the ``SettingsEncoder`` key, e.g.
/// `step_size`), so that a command line can name its own flag for it.
public struct InvalidOptionError: Error, Equatable, CustomStringConvertible {
    /// The method, e.g. `fovex`.
    public var method: String
    /// The option's record name, e.g. `step_size`.
    public var option: String
    /// The value given, as written in records.
    public var value: String
    /// The values accepted, in words, e.g. `a finite number in (0, 2]`.
    public var accepted: String

    /// The error for `option` of `method` set to `value`, where `accepted` describes the allowed values.
    public init(method: String, option: String, value: String, accepted: String) {
        self.method = method
        self.option = option
        self.value = value
        self.accepted = accepted
    }

    public var description: String { "\(method): \(option) must be \(accepted), got \(value)" }

    /// The same message naming `flag` (e.g. `--step-size`) instead of the record name.
    public func message(naming flag: String) -> String { "\(flag) must be \(accepted), got \(value)" }
}

/// A closed or half-open interval an option's value must lie in, declared once beside the option and
/// checked by the explainer's initialiser (and so by every command line that builds one).
public struct OptionBounds<Value: Comparable & Sendable>: Sendable {
    /// The lower end.
    public var lower: Value
    /// The upper end.
    public var upper: Value
    /// Whether `lower` itself is accepted (false for "positive" ranges such as (0, 2]).
    public var includesLower: Bool
    /// Whether `upper` itself is accepted (false for ranges such as Adam's β ∈ [0, 1)).
    public var includesUpper: Bool

    /// lower ≤ value ≤ upper.
    public init(_ range: ClosedRange<Value>) {
        (lower, upper, includesLower, includesUpper) = (range.lowerBound, range.upperBound, true, true)
    }

    /// lower ≤ value < upper.
    public init(_ range: Range<Value>) {
        (lower, upper, includesLower, includesUpper) = (range.lowerBound, range.upperBound, true, false)
    }

    /// lower < value ≤ upper.
    public init(above lower: Value, through upper: Value) {
        (self.lower, self.upper, includesLower, includesUpper) = (lower, upper, false, true)
    }

    /// Whether `value` lies inside, ends included as declared.
    public func contains(_ value: Value) -> Bool {
        (includesLower ? value >= lower : value > lower) && (includesUpper ? value <= upper : value < upper)
    }

    /// The range in words, e.g. `a whole number in 1…1000` or `a finite number in (0, 2]`.
    public var accepted: String {
        if Value.self is any BinaryInteger.Type { return "a whole number in \(lower)…\(upper)" }
        return "a finite number in \(includesLower ? "[" : "(")\(lower), \(upper)\(includesUpper ? "]" : ")")"
    }
}

extension OptionBounds where Value: BinaryFloatingPoint {
    /// Throws unless `value` is finite and inside the bounds.
    public func check(_ value: Value, option: String, method: String) throws {
        guard value.isFinite, contains(value) else {
            throw InvalidOptionError(method: method, option: option, value: "\(value)", accepted: accepted)
        }
    }
}

extension OptionBounds where Value: BinaryInteger {
    /// Throws unless `value` is inside the bounds.
    public func check(_ value: Value, option: String, method: String) throws {
        guard contains(value) else {
            throw InvalidOptionError(method: method, option: option, value: "\(value)", accepted: accepted)
        }
    }

    /// Throws unless `value` is an odd number inside the bounds (Gaussian kernels need a centre pixel).
    public func checkOdd(_ value: Value, option: String, method: String) throws {
        guard contains(value), value % 2 == 1 else {
            throw InvalidOptionError(method: method, option: option, value: "\(value)",
                                     accepted: "an odd " + accepted.dropFirst(2))
        }
    }
}

/// Flattens an explainer's `Options` (any `Encodable`) into the name → value strings of run records,
/// so that what is recorded is exactly what the options hold: keys are the property names in
/// snake_case, numbers and Booleans are written as Swift prints them, lists are joined by commas
/// (an empty list is not recorded), `nil` is not recorded, and a nested value's keys are merged
/// into its parent's.
public enum SettingsEncoder {
    /// `value`'s properties as record name → value text, e.g. `["step_size": "0.1", "variant": "paper"]`.
    public static func settings<T: Encodable>(of value: T) -> [String: String] {
        let storage = Storage()
        // The encoder below never throws: every value ends as a string.
        try? value.encode(to: FlatEncoder(storage: storage, key: nil))
        return storage.values
    }

    final class Storage {
        var values: [String: String] = [:]
        var lists: [String: [String]] = [:]
    }

    /// `stepsPerFixation` → `steps_per_fixation`; keys already in snake_case are kept.
    static func snakeCased(_ key: String) -> String {
        var out = ""
        for c in key {
            if c.isUppercase {
                if !out.isEmpty { out.append("_") }
                out.append(contentsOf: c.lowercased())
            } else {
                out.append(c)
            }
        }
        return out
    }

    struct FlatEncoder: Encoder {
        let storage: Storage
        let key: String?
        var codingPath: [CodingKey] = []
        var userInfo: [CodingUserInfoKey: Any] = [:]

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(Keyed<Key>(storage: storage))
        }

        func unkeyedContainer() -> UnkeyedEncodingContainer { List(storage: storage, key: key ?? "value") }

        func singleValueContainer() -> SingleValueEncodingContainer { Single(storage: storage, key: key ?? "value") }
    }

    /// Writes one value at `key`: primitives as text, anything else through its own encoding.
    static func write<T: Encodable>(_ value: T, at key: String, into storage: Storage) {
        if let text = text(of: value) {
            storage.values[key] = text
        } else {
            try? value.encode(to: FlatEncoder(storage: storage, key: key))
        }
    }

    static func text(of value: Any) -> String? {
        switch value {
        case let v as String: return v
        case let v as Bool: return "\(v)"
        case let v as Float: return "\(v)"
        case let v as Double: return "\(v)"
        case let v as any BinaryInteger: return "\(v)"
        default: return nil
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let storage: Storage
        var codingPath: [CodingKey] = []

        mutating func encodeNil(forKey key: Key) {}
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) {
            SettingsEncoder.write(value, at: SettingsEncoder.snakeCased(key.stringValue), into: storage)
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                            forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(Keyed<NestedKey>(storage: storage))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
            List(storage: storage, key: SettingsEncoder.snakeCased(key.stringValue))
        }
        mutating func superEncoder() -> Encoder { FlatEncoder(storage: storage, key: nil) }
        mutating func superEncoder(forKey key: Key) -> Encoder { FlatEncoder(storage: storage, key: nil) }
    }

    struct List: UnkeyedEncodingContainer {
        let storage: Storage
        let key: String
        var codingPath: [CodingKey] = []
        var count: Int { storage.lists[key]?.count ?? 0 }

        mutating func encodeNil() {}
        mutating func encode<T: Encodable>(_ value: T) {
            let item = SettingsEncoder.text(of: value) ?? {
                let inner = Storage()
                try? value.encode(to: FlatEncoder(storage: inner, key: nil))
                return inner.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
            }()
            storage.lists[key, default: []].append(item)
            storage.values[key] = storage.lists[key]!.joined(separator: ",")
        }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(Keyed<NestedKey>(storage: storage))
        }
        mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { List(storage: storage, key: key) }
        mutating func superEncoder() -> Encoder { FlatEncoder(storage: storage, key: key) }
    }

    struct Single: SingleValueEncodingContainer {
        let storage: Storage
        let key: String
        var codingPath: [CodingKey] = []

        mutating func encodeNil() {}
        mutating func encode<T: Encodable>(_ value: T) { SettingsEncoder.write(value, at: key, into: storage) }
    }
}
