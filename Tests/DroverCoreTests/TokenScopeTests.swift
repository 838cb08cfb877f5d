import DroverCore
import Testing

@Suite struct TokenScopeTests {
    @Test(arguments: [
        ("GET", "/v1/services", TokenScope.read), ("GET", "/v1/services/web/logs", .read), ("GET", "/metrics", .read),
        ("HEAD", "/v1/events", .read),
        ("PUT", "/v1/services/web/releases/1", .deploy), ("POST", "/v1/services/web/deployments", .deploy),
        ("POST", "/v1/services/web/rollback", .deploy), ("PUT", "/v1/services/web/scale", .deploy),
        ("PUT", "/v1/services/web/autoscale", .deploy), ("DELETE", "/v1/services/web/autoscale", .deploy),
        ("DELETE", "/v1/services/web/limits", .deploy), ("PATCH", "/v1/anything/new", .deploy),
        ("DELETE", "/v1/services/web", .admin), ("DELETE", "//v1//services/web/", .admin), ("POST", "/v1/tokens", .admin),
    ])
    func eachRequestNeedsItsScope(_ method: String, _ path: String, _ scope: TokenScope) {
        #expect(TokenScope.needed(method: method, path: path) == scope)
    }

    @Test func scopesIncludeTheOnesBelow() {
        #expect(TokenScope.admin.allows(.deploy) && TokenScope.admin.allows(.read) && TokenScope.deploy.allows(.read))
        #expect(!TokenScope.read.allows(.deploy) && !TokenScope.deploy.allows(.admin))
    }

    @Test func tokenNames() throws {
        #expect(try TokenName("ci-deploy_2.prod").rawValue == "ci-deploy_2.prod")
        for bad in ["", "-lead", "a b", "é", "x\u{0301}", String(repeating: "a", count: 65), "a\n"] {
            #expect(throws: NameError.self) { try TokenName(bad) }
        }
    }

    @Test func aGuessingAddressWaitsAndNoOtherDoes() {
        var limiter = AuthFailureLimiter(maxFailures: 3, window: .seconds(60), penalty: .seconds(30), maxAddresses: 2)
        let start = ContinuousClock.now
        for i in 0..<3 {
            #expect(limiter.retryAfter("10.0.0.1", now: start + .seconds(i)) == nil)
            limiter.recordFailure("10.0.0.1", now: start + .seconds(i))
        }
        #expect(limiter.retryAfter("10.0.0.1", now: start + .seconds(3)) == .seconds(29), "30 s after the last failure")
        #expect(limiter.retryAfter("10.0.0.2", now: start + .seconds(3)) == nil, "another address is not affected")
        #expect(limiter.retryAfter("10.0.0.1", now: start + .seconds(33)) == nil, "the penalty ends")
        // Failures spread wider than the window never add up.
        var slow = AuthFailureLimiter(maxFailures: 3, window: .seconds(10), penalty: .seconds(30))
        for i in 0..<10 { slow.recordFailure("a", now: start + .seconds(i * 11)) }
        #expect(slow.retryAfter("a", now: start + .seconds(100)) == nil)
        // A success clears; a flood of addresses stays bounded.
        limiter.recordSuccess("10.0.0.1")
        #expect(limiter.retryAfter("10.0.0.1", now: start + .seconds(4)) == nil)
        for i in 0..<100 { limiter.recordFailure("192.0.2.\(i)", now: start + .seconds(i)) }
        #expect(limiter.trackedAddresses == 2)
    }
}
