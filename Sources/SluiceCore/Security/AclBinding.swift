import KafkaProtocol

/// Kafka's ACL vocabulary, numbered as the wire and the metadata records number it.
public enum AclResourceType: Int8, Sendable, CaseIterable {
    case unknown = 0, any = 1, topic = 2, group = 3, cluster = 4, transactionalId = 5, delegationToken = 6, user = 7
}

public enum AclPatternType: Int8, Sendable, CaseIterable {
    case unknown = 0, any = 1, match = 2, literal = 3, prefixed = 4
}

public enum AclOperation: Int8, Sendable, CaseIterable {
    case unknown = 0, any = 1, all = 2, read = 3, write = 4, create = 5, delete = 6, alter = 7, describe = 8
    case clusterAction = 9, describeConfigs = 10, alterConfigs = 11, idempotentWrite = 12, createTokens = 13, describeTokens = 14

    /// The operations an ALLOW for this one also allows (Kafka's implied operations): READ,
    /// WRITE, DELETE and ALTER allow DESCRIBE; ALTER_CONFIGS allows DESCRIBE_CONFIGS.
    func allows(_ wanted: AclOperation) -> Bool {
        if self == .all || self == wanted { return true }
        switch wanted {
        case .describe: return [.read, .write, .delete, .alter].contains(self)
        case .describeConfigs: return self == .alterConfigs
        default: return false
        }
    }
}

public enum AclPermissionType: Int8, Sendable, CaseIterable {
    case unknown = 0, any = 1, deny = 2, allow = 3
}

/// One ACL: a resource pattern and an entry (principal, host, operation, permission), as
/// AccessControlEntryRecord stores it.
public struct AclBinding: Sendable, Hashable {
    public var resourceType: AclResourceType
    public var resourceName: String
    public var patternType: AclPatternType
    /// `User:alice`, or `User:*` for every principal.
    public var principal: String
    /// A client address, or `*` for any.
    public var host: String
    public var operation: AclOperation
    public var permission: AclPermissionType

    public init(resourceType: AclResourceType, resourceName: String, patternType: AclPatternType, principal: String,
                host: String, operation: AclOperation, permission: AclPermissionType) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    public static let wildcard = "*"
    public static let clusterName = "kafka-cluster"

    /// Whether this ACL's pattern covers a resource of `type` named `name` (Kafka's literal,
    /// wildcard and prefixed matching).
    public func covers(_ type: AclResourceType, _ name: String) -> Bool {
        guard resourceType == type else { return false }
        switch patternType {
        case .literal: return resourceName == name || resourceName == Self.wildcard
        case .prefixed: return name.hasPrefix(resourceName)
        default: return false
        }
    }

    /// Why Kafka's CreateAcls would refuse this binding (INVALID_REQUEST), nil when it is valid.
    public var invalidReason: String? {
        if [.unknown, .any].contains(resourceType) { return "Invalid resource type \(resourceType)" }
        if ![.literal, .prefixed].contains(patternType) { return "Invalid pattern type \(patternType)" }
        if [.unknown, .any].contains(operation) { return "Invalid operation \(operation)" }
        if ![.allow, .deny].contains(permission) { return "Invalid permission type \(permission)" }
        if resourceName.isEmpty { return "Resource name should not be empty" }
        if resourceType == .cluster && resourceName != Self.clusterName {
            return "The only valid name for the CLUSTER resource is \(Self.clusterName)"
        }
        guard let colon = principal.firstIndex(of: ":"), colon != principal.startIndex, principal.index(after: colon) != principal.endIndex else {
            return "Could not parse principal from `\(principal)` (no colon is present separating the principal type from the principal name)"
        }
        if host.isEmpty { return "Host should not be empty" }
        return nil
    }
}

/// What DescribeAcls and DeleteAcls select: each field a value, or any (nil names, ANY codes),
/// and the MATCH pattern type, which selects the ACLs that would apply to one resource.
public struct AclBindingFilter: Sendable, Hashable {
    public var resourceType: AclResourceType
    public var resourceName: String?
    public var patternType: AclPatternType
    public var principal: String?
    public var host: String?
    public var operation: AclOperation
    public var permission: AclPermissionType

    public init(resourceType: AclResourceType = .any, resourceName: String? = nil, patternType: AclPatternType = .any,
                principal: String? = nil, host: String? = nil, operation: AclOperation = .any, permission: AclPermissionType = .any) {
        self.resourceType = resourceType
        self.resourceName = resourceName
        self.patternType = patternType
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission = permission
    }

    public func matches(_ acl: AclBinding) -> Bool {
        if resourceType != .any && resourceType != acl.resourceType { return false }
        switch patternType {
        case .any:
            if let resourceName, resourceName != acl.resourceName { return false }
        case .match:
            if let resourceName {
                guard acl.covers(acl.resourceType, resourceName) else { return false }
            }
        default:
            if patternType != acl.patternType { return false }
            if let resourceName, resourceName != acl.resourceName { return false }
        }
        if let principal, principal != acl.principal { return false }
        if let host, host != acl.host { return false }
        if operation != .any && operation != acl.operation { return false }
        if permission != .any && permission != acl.permission { return false }
        return true
    }

    /// Why Kafka would refuse this filter (UNKNOWN values), nil when it may be used.
    public var invalidReason: String? {
        if resourceType == .unknown || patternType == .unknown || operation == .unknown || permission == .unknown {
            return "The filter contains UNKNOWN elements"
        }
        return nil
    }
}
