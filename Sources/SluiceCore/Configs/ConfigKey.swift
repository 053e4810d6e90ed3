/// Kafka's ConfigDef types, numbered as DescribeConfigs (v3+) reports them.
public enum ConfigType: Int8, Sendable {
    case unknown = 0
    case boolean = 1
    case string = 2
    case int = 3
    case short = 4
    case long = 5
    case double = 6
    case list = 7
    case `class` = 8
    case password = 9
}

/// Where a config value comes from, numbered as DescribeConfigs (v1+) reports it.
public enum ConfigSource: Int8, Sendable {
    case unknown = 0
    case topic = 1
    case dynamicBroker = 2
    case dynamicDefaultBroker = 3
    case staticBroker = 4
    case defaultConfig = 5
}

/// The checks Kafka's ConfigDef validators make, with the texts they fail with, so a client
/// sees the message Apache Kafka would give it.
public enum ConfigRule: Sendable {
    case any
    /// `Range.atLeast`.
    case atLeast(Int64)
    /// `Range.between` over whole numbers.
    case between(Int64, Int64)
    /// `Range.between` over fractions (min.cleanable.dirty.ratio).
    case fraction(Double, Double)
    /// `ValidString.in`, case-sensitive.
    case oneOf([String])
    /// `ValidList.in`: every element one of these; an empty list passes (Kafka 3.x).
    case listOf([String])
    /// GzipCompression.LevelValidator: 1–9 or -1.
    case gzipLevel
    /// MetadataVersionValidator: a release ("3.0") or an inter-broker protocol version ("3.0-IV1").
    case metadataVersion
    /// ThrottledReplicaListValidator: "*" or "partition:broker,...".
    case throttledReplicas
}

/// One config: its Kafka name, type, default as Kafka prints it (nil where Kafka has none),
/// and rule. Both topic configs and broker settings are described this way.
public struct ConfigKey: Sendable {
    public let name: String
    public let type: ConfigType
    public let defaultValue: String?
    public let rule: ConfigRule

    public init(_ name: String, _ type: ConfigType, _ defaultValue: String?, _ rule: ConfigRule = .any) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.rule = rule
    }

    /// Why `raw` is not a valid value, in Kafka's words ("Invalid value X for configuration Y:
    /// ..."), or nil. Values are trimmed first, as ConfigDef.parseType does.
    public func validationError(_ raw: String) -> String? {
        let value = raw.trimmingWhitespace()
        func invalid(_ shown: String, _ reason: String) -> String {
            "Invalid value \(shown) for configuration \(name): \(reason)"
        }
        switch type {
        case .boolean:
            let lowered = value.lowercased()
            return lowered == "true" || lowered == "false" ? nil : invalid(value, "Expected value to be either true or false")
        case .int, .short:
            let parsed = type == .int ? Int32(value).map(Int64.init) : Int16(value).map(Int64.init)
            guard let number = parsed else { return invalid(value, "Not a number of type \(type == .int ? "INT" : "SHORT")") }
            return rangeError(Double(number)).map { invalid(value, $0) }
        case .long:
            guard let number = Int64(value) else { return invalid(value, "Not a number of type LONG") }
            return rangeError(Double(number), exact: number).map { invalid(value, $0) }
        case .double:
            guard let number = Double(value) else { return invalid(value, "Not a number of type DOUBLE") }
            return rangeError(number).map { invalid(value, $0) }
        case .list:
            for element in ConfigKey.listElements(value) {
                if case .listOf(let allowed) = rule, !allowed.contains(element) {
                    return invalid(element, "String must be one of: \(allowed.joined(separator: ", "))")
                }
            }
            if case .throttledReplicas = rule, !Self.isThrottledReplicaList(value) {
                return invalid("[\(ConfigKey.listElements(value).joined(separator: ", "))]",
                               "\(name) must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
            }
            return nil
        case .string, .class, .password, .unknown:
            switch rule {
            case .oneOf(let allowed) where !allowed.contains(value):
                return invalid(value, "String must be one of: \(allowed.joined(separator: ", "))")
            case .metadataVersion where !Self.isMetadataVersion(value):
                return invalid(value, "Version \(value) is not a valid version")
            default:
                return nil
            }
        }
    }

    private func rangeError(_ number: Double, exact: Int64? = nil) -> String? {
        switch rule {
        case .atLeast(let minimum):
            let below = exact.map { $0 < minimum } ?? (number < Double(minimum))
            return below ? "Value must be at least \(minimum)" : nil
        case .between(let low, let high):
            if let exact {
                if exact < low { return "Value must be at least \(low)" }
                if exact > high { return "Value must be no more than \(high)" }
                return nil
            }
            if number < Double(low) { return "Value must be at least \(low)" }
            if number > Double(high) { return "Value must be no more than \(high)" }
            return nil
        case .fraction(let low, let high):
            if number < low { return "Value must be at least \(Self.format(low))" }
            if number > high { return "Value must be no more than \(Self.format(high))" }
            return nil
        case .gzipLevel:
            return number == -1 || (1...9).contains(number) ? nil : "Value must be between 1 and 9 or equal to -1"
        default:
            return nil
        }
    }

    /// A valid value as Kafka prints it after parsing (trimmed; booleans lowercase; lists
    /// joined with ","), which is what DescribeConfigs shows and what is stored.
    public func normalized(_ raw: String) -> String {
        let value = raw.trimmingWhitespace()
        switch type {
        case .boolean: return value.lowercased()
        case .list: return ConfigKey.listElements(value).joined(separator: ",")
        case .int, .short, .long: return Int64(value).map(String.init) ?? value
        case .double: return Double(value).map { "\($0)" } ?? value  // Java's Double.toString: 0.5, 1.0
        default: return value
        }
    }

    /// Kafka's list parsing: "" is the empty list, otherwise elements split on commas with the
    /// blanks around them dropped.
    public static func listElements(_ value: String) -> [String] {
        let trimmed = value.trimmingWhitespace()
        guard !trimmed.isEmpty else { return [] }
        return trimmed.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
    }

    /// A range bound as Kafka's message prints it (its bounds are Java ints where whole).
    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? "\(Int64(number))" : "\(number)"
    }

    static func isThrottledReplicaList(_ value: String) -> Bool {
        let elements = listElements(value)
        if elements.joined(separator: ",") == "*" { return true }
        return elements.allSatisfy { element in
            if element.isEmpty { return true }
            let parts = element.split(separator: ":", omittingEmptySubsequences: false)
            return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }
        }
    }

    /// Kafka's MetadataVersion.fromVersionString over the versions Kafka 3.x knows: releases
    /// 0.8.0 to 3.9, with or without an "-IVn" suffix (a release alone means its latest).
    static func isMetadataVersion(_ value: String) -> Bool {
        var text = Substring(value)
        if let dash = text.firstIndex(of: "-") {
            let suffix = text[text.index(after: dash)...]
            guard suffix.hasPrefix("IV"), let iv = Int(suffix.dropFirst(2)), (0...3).contains(iv) else { return false }
            text = text[..<dash]
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.allSatisfy({ $0 != nil }) else { return false }
        let numbers = parts.compactMap { $0 }
        switch numbers.first {
        case 0:
            // 0.8.0 … 0.11.0: three parts are kept (a fourth, like 0.10.0.1, is ignored).
            let releases: [Int: ClosedRange<Int>] = [8: 0...2, 9: 0...0, 10: 0...2, 11: 0...0]
            guard numbers.count >= 3, let patches = releases[numbers[1]] else { return false }
            return patches.contains(numbers[2])
        case 1, 2:
            guard numbers.count >= 2 else { return false }
            return numbers[0] == 1 ? (0...1).contains(numbers[1]) : (0...8).contains(numbers[1])
        case 3:
            guard numbers.count >= 2 else { return false }
            return (0...9).contains(numbers[1])
        default:
            return false
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
