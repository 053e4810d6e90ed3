import SluiceCore
import Testing

@Suite("Topic names")
struct TopicNameTests {
    @Test func topicNamesFollowKafkasRules() {
        #expect(TopicName.validationError("orders.v1_x-2") == nil)
        #expect(TopicName.validationError("") != nil)
        #expect(TopicName.validationError(".") != nil)
        #expect(TopicName.validationError("..") != nil)
        #expect(TopicName.validationError("has space") != nil)
        #expect(TopicName.validationError("ümlaut") != nil)
        #expect(TopicName.validationError(String(repeating: "a", count: 249)) == nil)
        #expect(TopicName.validationError(String(repeating: "a", count: 250)) != nil)
        #expect(TopicName.collisionKey("a.b") == TopicName.collisionKey("a_b"))
    }
}
