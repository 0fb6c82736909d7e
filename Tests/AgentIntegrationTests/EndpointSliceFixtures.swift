/// `discovery.k8s.io` answers in the shape a Kubernetes API server gives them: v1 as 1.36
/// returns it (`nodeName`, `zone`, `conditions.serving`/`terminating`, `targetRef`, managed
/// fields, one slice per address family of a dual-stack Service), v1beta1 as 1.20 did
/// (the node in `topology`). Addresses are in the test ranges (198.18.0.0/15, 2001:db8::/32).
enum EndpointSliceFixtures {
    static func resourceList(_ version: String) -> String {
        """
        {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"discovery.k8s.io/\(version)","resources":[{"name":"endpointslices","singularName":"endpointslice","namespaced":true,"kind":"EndpointSlice","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"storageVersionHash":"Nx3SIv6I0mE="}]}
        """
    }

    static func list(_ version: String) -> String {
        version == "v1" ? v1 : v1beta1
    }

    static func endpointV1(_ address: String, node: String, zone: String, ready: Bool, pod: String) -> String {
        """
        {"addresses":["\(address)"],"conditions":{"ready":\(ready),"serving":\(ready),"terminating":\(!ready)},"targetRef":{"kind":"Pod","namespace":"peerpull-system","name":"\(pod)","uid":"6f1d2c3b-8a4e-4f0d-9b7a-\(pod.suffix(5))0000000"},"nodeName":"\(node)","zone":"\(zone)"}
        """
    }

    static func sliceV1(name: String, family: String, endpoints: [String]) -> String {
        """
        {"metadata":{"name":"\(name)","generateName":"p2p-agent-","namespace":"peerpull-system","uid":"0b5c6f9e-3c1d-4a8e-9d55-2f7c8e1a4b6\(family.suffix(1))","resourceVersion":"48190","generation":4,"creationTimestamp":"2026-12-01T09:12:44Z","labels":{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"p2p-agent","service.kubernetes.io/headless":""},"annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"2026-12-01T09:14:02Z"},"ownerReferences":[{"apiVersion":"v1","kind":"Service","name":"p2p-agent","uid":"5d0f6a1e-2b7c-4c39-8e0d-1a2b3c4d5e6f","controller":true,"blockOwnerDeletion":true}],"managedFields":[{"manager":"kube-controller-manager","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-12-01T09:14:02Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:ports":{}}}]},"addressType":"\(family)","endpoints":[\(endpoints.joined(separator: ","))],"ports":[{"name":"peer","protocol":"TCP","port":65002}]}
        """
    }

    static let v1 = """
        {"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"48213"},"items":[\(
            sliceV1(name: "p2p-agent-7xk2q", family: "IPv4", endpoints: [
                endpointV1("198.18.0.17", node: "node-a", zone: "zone-a", ready: true, pod: "p2p-agent-4m9sd"),
                endpointV1("198.18.0.18", node: "node-b", zone: "zone-b", ready: true, pod: "p2p-agent-8k2pw"),
                endpointV1("198.18.0.19", node: "node-c", zone: "zone-b", ready: false, pod: "p2p-agent-q7r4t"),
            ])),\(
            sliceV1(name: "p2p-agent-b6v9n", family: "IPv6", endpoints: [
                endpointV1("2001:db8::17", node: "node-a", zone: "zone-a", ready: true, pod: "p2p-agent-4m9sd"),
                endpointV1("2001:db8::18", node: "node-b", zone: "zone-b", ready: true, pod: "p2p-agent-8k2pw"),
            ]))]}
        """

    static let v1beta1 = """
        {"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1beta1","metadata":{"resourceVersion":"9120"},"items":[{"metadata":{"name":"p2p-agent-7xk2q","generateName":"p2p-agent-","namespace":"peerpull-system","resourceVersion":"9101","labels":{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"p2p-agent","service.kubernetes.io/headless":""}},"addressType":"IPv4","endpoints":[{"addresses":["198.18.0.17"],"conditions":{"ready":true},"topology":{"kubernetes.io/hostname":"node-a","topology.kubernetes.io/zone":"zone-a"}},{"addresses":["198.18.0.18"],"conditions":{"ready":true},"topology":{"kubernetes.io/hostname":"node-b","topology.kubernetes.io/zone":"zone-b"}}],"ports":[{"name":"peer","protocol":"TCP","port":65002}]}]}
        """
}
