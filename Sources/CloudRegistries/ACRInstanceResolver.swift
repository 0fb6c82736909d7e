import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import OCI

/// ACR Enterprise Edition through its OpenAPI: `ListInstanceEndpoint` (cr, 2018-12-01),
/// signed with temporary credentials of the RAM role attached to the node (the ECS
/// metadata service), every enabled endpoint's domains (VPC and internet).
public struct ACRInstanceResolver: RegistryInstanceResolver {
    public var region: String?
    public var ramRole: String
    /// `https://cr.<region>.aliyuncs.com` unless set (tests point it at a local server).
    public var apiEndpoint: String?
    public var metadataEndpoint = "http://100.100.100.200"
    let http: HTTPClient
    let now: @Sendable () -> Date

    public init(ramRole: String, region: String? = nil, apiEndpoint: String? = nil, metadataEndpoint: String? = nil,
                http: HTTPClient, now: @escaping @Sendable () -> Date = { Date() }) {
        self.ramRole = ramRole
        self.region = region
        self.apiEndpoint = apiEndpoint
        if let metadataEndpoint { self.metadataEndpoint = metadataEndpoint }
        self.http = http
        self.now = now
    }

    /// The role's temporary credentials, as the metadata service serves them.
    struct RoleCredentials: Decodable {
        var AccessKeyId: String
        var AccessKeySecret: String
        var SecurityToken: String
        var Code: String?
    }

    struct ListInstanceEndpointResponse: Decodable {
        struct Endpoint: Decodable {
            struct Domain: Decodable { var `Type`: String?; var Domain: String }
            var EndpointType: String?
            var Enable: Bool?
            var Status: String?
            var Domains: [Domain]?
        }
        var Code: String?
        var IsSuccess: Bool?
        var Message: String?
        var RequestId: String?
        var Endpoints: [Endpoint]?
    }

    public func domains(of instanceID: String) async throws -> [String] {
        let credentials: RoleCredentials = try await getJSON(metadataEndpoint + "/latest/meta-data/ram/security-credentials/\(ramRole)", what: "RAM role \(ramRole) from the ECS metadata service")
        var region = self.region ?? ""
        if region.isEmpty { region = try await getText(metadataEndpoint + "/latest/meta-data/region-id", what: "the region from the ECS metadata service") }
        let endpoint = apiEndpoint ?? "https://cr.\(region).aliyuncs.com"
        let query = Self.signedQuery([
            "Action": "ListInstanceEndpoint", "Version": "2018-12-01", "InstanceId": instanceID, "ModuleName": "Registry",
            "RegionId": region, "Format": "JSON",
        ], accessKeyID: credentials.AccessKeyId, secret: credentials.AccessKeySecret, securityToken: credentials.SecurityToken,
           nonce: UUID().uuidString, timestamp: now())
        let response: ListInstanceEndpointResponse = try await getJSON(endpoint + "/?" + query, what: "ListInstanceEndpoint for \(instanceID)")
        guard response.IsSuccess != false, (response.Code ?? "success").lowercased() == "success" else {
            throw ResolverError("ListInstanceEndpoint for \(instanceID) failed: \(response.Code ?? "") \(response.Message ?? "") (request \(response.RequestId ?? "?")); check that role \(ramRole) may call cr:ListInstanceEndpoint")
        }
        let domains = (response.Endpoints ?? []).filter { $0.Enable != false }.flatMap { $0.Domains ?? [] }.map(\.Domain)
        guard !domains.isEmpty else { throw ResolverError("instance \(instanceID) has no enabled registry endpoint") }
        return domains
    }

    /// Alibaba Cloud RPC signature v1: HMAC-SHA1 over `GET&%2F&<encoded canonical query>`
    /// with key `<secret>&`.
    static func signedQuery(_ parameters: [String: String], accessKeyID: String, secret: String, securityToken: String?,
                            nonce: String, timestamp: Date) -> String {
        var all = parameters
        all["AccessKeyId"] = accessKeyID
        all["SignatureMethod"] = "HMAC-SHA1"
        all["SignatureVersion"] = "1.0"
        all["SignatureNonce"] = nonce
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        all["Timestamp"] = formatter.string(from: timestamp)
        if let securityToken { all["SecurityToken"] = securityToken }
        let canonical = all.keys.sorted().map { "\(percentEncode($0))=\(percentEncode(all[$0]!))" }.joined(separator: "&")
        let signature = signature(canonicalQuery: canonical, secret: secret)
        return canonical + "&Signature=" + percentEncode(signature)
    }

    static func signature(canonicalQuery: String, secret: String) -> String {
        let stringToSign = "GET&%2F&" + percentEncode(canonicalQuery)
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(stringToSign.utf8), using: SymmetricKey(data: Data((secret + "&").utf8)))
        return Data(mac).base64EncodedString()
    }

    /// RFC 3986 unreserved characters stay; everything else is %XX (upper case).
    static func percentEncode(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(byte)))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    private func getText(_ url: String, what: String) async throws -> String {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: .seconds(5)) } catch {
            throw ResolverError("cannot fetch \(what) at \(url): \(error)")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        let text = String(buffer: body)
        guard response.status.code == 200 else { throw ResolverError("\(what) answered \(response.status.code): \(text.prefix(200))") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func getJSON<T: Decodable>(_ url: String, what: String) async throws -> T {
        let text = try await getText(url, what: what)
        do { return try BoundedJSON.decode(T.self, from: Data(text.utf8)) } catch {
            throw ResolverError("\(what) is not the documented JSON: \(error)")
        }
    }
}
