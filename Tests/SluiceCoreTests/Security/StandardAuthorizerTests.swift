import KafkaProtocol
import Testing

@testable import SluiceCore

/// The decisions of Kafka's StandardAuthorizer: literal, wildcard and prefixed patterns, implied
/// operations, DENY winning, super users, and the no-ACL default.
@Suite("Standard authorizer")
struct StandardAuthorizerTests {
    static let alice = KafkaPrincipal.user("alice")
    static let bob = KafkaPrincipal.user("bob")

    static func with(_ bindings: [AclBinding], superUsers: Set<String> = [], allowEveryone: Bool = false) -> StandardAuthorizer {
        var authorizer = StandardAuthorizer(superUsers: superUsers, allowEveryoneIfNoAclFound: allowEveryone)
        for binding in bindings {
            authorizer.apply(AccessControlEntryRecord(
                id: KafkaUUID.random(), resourceType: binding.resourceType.rawValue, resourceName: binding.resourceName,
                patternType: binding.patternType.rawValue, principal: binding.principal, host: binding.host,
                operation: binding.operation.rawValue, permissionType: binding.permission.rawValue))
        }
        return authorizer
    }

    static func acl(_ name: String, _ operation: AclOperation, type: AclResourceType = .topic, pattern: AclPatternType = .literal,
                    principal: String = "User:alice", host: String = "*", permission: AclPermissionType = .allow) -> AclBinding {
        AclBinding(resourceType: type, resourceName: name, patternType: pattern, principal: principal, host: host,
                   operation: operation, permission: permission)
    }

    @Test func nothingIsAllowedWithoutAnAclByDefault() {
        let none = Self.with([])
        #expect(!none.authorize(Self.alice, host: "10.0.0.1", .read, .topic, "orders"))
        #expect(Self.with([], allowEveryone: true).authorize(Self.alice, host: "10.0.0.1", .read, .topic, "orders"))
        // Once any ACL covers the resource, the default no longer applies to it.
        let bobOnly = Self.with([Self.acl("orders", .read, principal: "User:bob")], allowEveryone: true)
        #expect(!bobOnly.authorize(Self.alice, host: "h", .read, .topic, "orders"))
        #expect(bobOnly.authorize(Self.alice, host: "h", .read, .topic, "payments"))
    }

    @Test func impliedOperationsAreAllowedButNotTheOtherWay() {
        let authorizer = Self.with([Self.acl("orders", .write), Self.acl("kafka-cluster", .alterConfigs, type: .cluster)])
        #expect(authorizer.authorize(Self.alice, host: "h", .write, .topic, "orders"))
        #expect(authorizer.authorize(Self.alice, host: "h", .describe, .topic, "orders"))
        #expect(!authorizer.authorize(Self.alice, host: "h", .read, .topic, "orders"))
        #expect(authorizer.authorize(Self.alice, host: "h", .describeConfigs, .cluster, "kafka-cluster"))
        #expect(!authorizer.authorize(Self.alice, host: "h", .describe, .cluster, "kafka-cluster"))
        let all = Self.with([Self.acl("g", .all, type: .group)])
        #expect(all.authorize(Self.alice, host: "h", .delete, .group, "g"))
    }

    @Test func prefixedAndWildcardPatternsCover() {
        let authorizer = Self.with([Self.acl("sales-", .read, pattern: .prefixed), Self.acl("*", .describe, principal: "User:*")])
        #expect(authorizer.authorize(Self.alice, host: "h", .read, .topic, "sales-eu"))
        #expect(!authorizer.authorize(Self.alice, host: "h", .read, .topic, "sale"))
        #expect(authorizer.authorize(Self.bob, host: "h", .describe, .topic, "anything"))
        #expect(!authorizer.authorize(Self.bob, host: "h", .read, .topic, "anything"))
    }

    @Test func denyWinsOverAllowButOnlyForItsOperation() {
        let authorizer = Self.with([Self.acl("orders", .all), Self.acl("orders", .write, permission: .deny),
                                    Self.acl("secret-", .all, pattern: .prefixed, principal: "User:*", permission: .deny), Self.acl("secret-x", .read)])
        #expect(!authorizer.authorize(Self.alice, host: "h", .write, .topic, "orders"))
        #expect(authorizer.authorize(Self.alice, host: "h", .read, .topic, "orders"))
        #expect(authorizer.authorize(Self.alice, host: "h", .describe, .topic, "orders"), "a DENY of WRITE does not deny DESCRIBE")
        #expect(!authorizer.authorize(Self.alice, host: "h", .read, .topic, "secret-x"))
    }

    @Test func hostsAndSuperUsers() {
        let authorizer = Self.with([Self.acl("orders", .read, host: "10.0.0.1")], superUsers: StandardAuthorizer.parseSuperUsers("User:admin; User:ops"))
        #expect(authorizer.authorize(Self.alice, host: "10.0.0.1", .read, .topic, "orders"))
        #expect(!authorizer.authorize(Self.alice, host: "10.0.0.2", .read, .topic, "orders"))
        #expect(authorizer.authorize(.user("ops"), host: "anywhere", .alter, .cluster, "kafka-cluster"))
        #expect(!authorizer.authorize(.user("admin2"), host: "anywhere", .alter, .cluster, "kafka-cluster"))
    }

    @Test func removalAndFilters() {
        var authorizer = Self.with([Self.acl("orders", .read), Self.acl("orders", .write, principal: "User:bob"), Self.acl("or", .describe, pattern: .prefixed),
                                    Self.acl("g", .read, type: .group)])
        #expect(authorizer.bindings(matching: AclBindingFilter()).count == 4)
        #expect(authorizer.bindings(matching: AclBindingFilter(resourceType: .topic, resourceName: "orders")).count == 2)
        #expect(authorizer.bindings(matching: AclBindingFilter(resourceType: .topic, resourceName: "orders", patternType: .match)).count == 3)
        #expect(authorizer.bindings(matching: AclBindingFilter(principal: "User:bob")).map { $0.acl.operation } == [AclOperation.write])
        let id = authorizer.bindings(matching: AclBindingFilter(resourceType: .group)).first!.id
        authorizer.apply(RemoveAccessControlEntryRecord(id: id))
        #expect(authorizer.bindings(matching: AclBindingFilter(resourceType: .group)).isEmpty)
    }

    @Test func createAclsValidation() {
        #expect(Self.acl("orders", .read).invalidReason == nil)
        #expect(Self.acl("kafka-cluster", .alter, type: .cluster).invalidReason == nil)
        #expect(Self.acl("other", .alter, type: .cluster).invalidReason != nil)
        #expect(Self.acl("orders", .any).invalidReason != nil)
        #expect(Self.acl("orders", .read, pattern: .match).invalidReason != nil)
        #expect(Self.acl("orders", .read, principal: "alice").invalidReason != nil)
        #expect(Self.acl("x", .read, type: .any).invalidReason != nil)
        #expect(AclBindingFilter(operation: .unknown).invalidReason != nil)
    }
}
