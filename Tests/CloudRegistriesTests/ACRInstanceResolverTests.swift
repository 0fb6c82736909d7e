import AsyncHTTPClient
@testable import CloudRegistries
import Foundation
import Hummingbird
import Logging
@testable import OCI
import TestSupport
import Testing

/// The ACR resolver against a local server speaking the ECS metadata service and the
/// documented `ListInstanceEndpoint` response (cr 2018-12-01), with signatures checked.
@Suite("ACR instance resolver")
struct ACRInstanceResolverTests {
    @Test func signatureMatchesAlibabasDocumentedExample() {
        // Alibaba's RPC signature documentation: ECS DescribeRegions with secret "testsecret".
        let params = ["AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
                      "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
                      "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"]
        let canonical = params.keys.sorted().map { "\(ACRInstanceResolver.percentEncode($0))=\(ACRInstanceResolver.percentEncode(params[$0]!))" }.joined(separator: "&")
        #expect(ACRInstanceResolver.signature(canonicalQuery: canonical, secret: "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY=")
        #expect(ACRInstanceResolver.percentEncode("a b*c~d/é") == "a%20b%2Ac~d%2F%C3%A9")
    }

    @Test func resolvesKnownInstancesAndSkipsUnknownOnes() async throws {
        let router = Router()
        router.get("/latest/meta-data/ram/security-credentials/:role") { _, context in
            let role = context.parameters.get("role") ?? ""
            guard role == "peerpull-role" else { return Response(status: .notFound) }
            return Response(status: .ok, body: .init(byteBuffer: .init(string: """
            {"AccessKeyId":"STS.testid","AccessKeySecret":"testsecret","Expiration":"2030-01-01T00:00:00Z",
             "SecurityToken":"sts-token","LastUpdated":"2026-11-27T00:00:00Z","Code":"Success"}
            """)))
        }
        router.get("/latest/meta-data/region-id") { _, _ in "cn-hangzhou" }
        router.get("/") { request, _ in
            var params: [String: String] = [:]
            for (k, v) in request.uri.queryParameters { params[String(k)] = String(v) }
            let signature = params.removeValue(forKey: "Signature") ?? ""
            let canonical = params.keys.sorted().map { "\(ACRInstanceResolver.percentEncode($0))=\(ACRInstanceResolver.percentEncode(params[$0]!))" }.joined(separator: "&")
            guard signature == ACRInstanceResolver.signature(canonicalQuery: canonical, secret: "testsecret"),
                  params["SecurityToken"] == "sts-token", params["AccessKeyId"] == "STS.testid",
                  params["Action"] == "ListInstanceEndpoint", params["Version"] == "2018-12-01" else {
                return Response(status: .badRequest, body: .init(byteBuffer: .init(string: #"{"Code":"SignatureDoesNotMatch","IsSuccess":false,"RequestId":"r0"}"#)))
            }
            guard params["InstanceId"] == "cri-kmsiwlxxdcva1234" else {
                return Response(status: .ok, body: .init(byteBuffer: .init(string: #"{"Code":"INSTANCE_NOT_EXIST","IsSuccess":false,"RequestId":"r1","Message":"instance does not exist"}"#)))
            }
            return Response(status: .ok, body: .init(byteBuffer: .init(string: """
            {"Code":"success","IsSuccess":true,"RequestId":"1B21A877-66A2-4095-90EB-20A7781A4A67",
             "Endpoints":[
              {"Status":"RUNNING","EndpointType":"internet","AclEnable":true,"Enable":true,
               "Domains":[{"Type":"SYSTEM","Domain":"test-registry.cn-hangzhou.cr.aliyuncs.com"}],"AclEntries":[{"Entry":"127.0.0.1"}]},
              {"Status":"RUNNING","EndpointType":"vpc","AclEnable":false,"Enable":true,
               "Domains":[{"Type":"SYSTEM","Domain":"test-registry-vpc.cn-hangzhou.cr.aliyuncs.com"}],"LinkedVpcs":[{"VpcId":"vpc-bp1b1xjllp3ve5yze1234"}]},
              {"Status":"STOPPED","EndpointType":"internet","Enable":false,"Domains":[{"Type":"USER","Domain":"disabled.example.com"}]}
             ]}
            """)))
        }
        let server = try await LoopbackServer.start(router: router)
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let resolver = ACRInstanceResolver(ramRole: "peerpull-role", apiEndpoint: server.baseURL, metadataEndpoint: server.baseURL, http: http)
        let domains = await resolveRegistryInstances(
            ["cri-kmsiwlxxdcva1234", "cri-doesnotexist", "Harbor.Example.com"], resolver: resolver, logger: Logger(label: "test"))
        #expect(domains == ["harbor.example.com", "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com", "test-registry.cn-hangzhou.cr.aliyuncs.com"])
        // Without a role, ids are skipped and domains still work.
        #expect(await resolveRegistryInstances(["cri-abc", "r.example.com"], resolver: nil, logger: Logger(label: "test")) == ["r.example.com"])
        await #expect(throws: ResolverError.self) {
            _ = try await ACRInstanceResolver(ramRole: "other-role", apiEndpoint: server.baseURL, metadataEndpoint: server.baseURL, http: http)
                .domains(of: "cri-kmsiwlxxdcva1234")
        }
        try await http.shutdown()
        await server.stop()
    }
}
