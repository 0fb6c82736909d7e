/// A `List` response: items and the resourceVersion to watch from.
public struct ObjectList<Item: Codable & Sendable>: Codable, Sendable {
    public struct ListMeta: Codable, Sendable {
        public var resourceVersion: String?
        /// Set when the list is paged (`limit`) and more items follow.
        public var `continue`: String?
    }
    public var metadata: ListMeta
    public var items: [Item]
}
