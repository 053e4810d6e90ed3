import KafkaProtocol

/// Every ACL, rebuilt from AccessControlEntryRecord and RemoveAccessControlEntryRecord, and the
/// decision Kafka's StandardAuthorizer makes from them: super users may do anything; otherwise
/// a DENY that covers the resource, principal, host and operation wins; then an ALLOW of the
/// operation or one that implies it; and when no ACL covers the resource at all,
/// `allow.everyone.if.no.acl.found` decides (false by default: deny).
public struct StandardAuthorizer: Sendable, Equatable {
    public private(set) var acls: [KafkaUUID: AclBinding] = [:]
    public var superUsers: Set<String>
    public var allowEveryoneIfNoAclFound: Bool

    public init(superUsers: Set<String> = [], allowEveryoneIfNoAclFound: Bool = false) {
        self.superUsers = superUsers
        self.allowEveryoneIfNoAclFound = allowEveryoneIfNoAclFound
    }

    /// `super.users` as Kafka writes it: `User:admin;User:ops`.
    public static func parseSuperUsers(_ text: String) -> Set<String> {
        Set(text.split(separator: ";").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty })
    }

    public mutating func apply(_ record: any KafkaMessage) {
        switch record {
        case let r as AccessControlEntryRecord:
            guard let type = AclResourceType(rawValue: r.resourceType), let pattern = AclPatternType(rawValue: r.patternType),
                  let operation = AclOperation(rawValue: r.operation), let permission = AclPermissionType(rawValue: r.permissionType)
            else { return }
            acls[r.id] = AclBinding(resourceType: type, resourceName: r.resourceName, patternType: pattern, principal: r.principal,
                                    host: r.host, operation: operation, permission: permission)
        case let r as RemoveAccessControlEntryRecord:
            acls[r.id] = nil
        default:
            break
        }
    }

    public func authorize(_ principal: KafkaPrincipal, host: String, _ operation: AclOperation,
                          _ type: AclResourceType, _ name: String) -> Bool {
        let who = principal.description
        if superUsers.contains(who) { return true }
        var coveredAtAll = false
        var allowed = false
        for acl in acls.values where acl.covers(type, name) {
            coveredAtAll = true
            guard acl.principal == who || acl.principal == "\(principal.type):*",
                  acl.host == host || acl.host == AclBinding.wildcard else { continue }
            switch acl.permission {
            case .deny where acl.operation == .all || acl.operation == operation:
                return false
            case .allow where acl.operation.allows(operation):
                allowed = true
            default:
                break
            }
        }
        return coveredAtAll ? allowed : allowEveryoneIfNoAclFound
    }

    public func bindings(matching filter: AclBindingFilter) -> [(id: KafkaUUID, acl: AclBinding)] {
        acls.filter { filter.matches($0.value) }.map { ($0.key, $0.value) }.sorted { $0.id.description < $1.id.description }
    }
}
