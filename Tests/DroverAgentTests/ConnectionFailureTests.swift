import AsyncHTTPClient
@testable import DroverClient
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The errors AsyncHTTPClient and NIO raise for a host that cannot be reached, said as a
/// person would: found by type and errno, never by NIO's own text.
@Suite struct ConnectionFailureTests {
    func say(_ error: any Error) -> String {
        ConnectionFailure(error).message(address: "10.0.0.12:7070", connectTimeout: .seconds(5), timeout: .seconds(30))
    }

    @Test func eachFailureIsSaidAsAPersonWould() {
        #expect(say(IOError(errnoCode: ECONNREFUSED, reason: "connect")) == "connection refused by 10.0.0.12:7070 (is the agent running?)")
        // NIO's words for this are "connection reset (error set): No route to host) (errno: 113)".
        #expect(say(IOError(errnoCode: EHOSTUNREACH, reason: "connection reset (error set)")) == "no route to host 10.0.0.12 (is it up, and is the address right?)")
        #expect(say(IOError(errnoCode: ENETUNREACH, reason: "connect")) == "no route to host 10.0.0.12 (is it up, and is the address right?)")
        #expect(say(HTTPClientError.connectTimeout) == "no answer from 10.0.0.12:7070 within 5 s (is it up, or are packets dropped on the way?)")
        #expect(say(ChannelError.connectTimeout(.seconds(5))) == say(HTTPClientError.connectTimeout))
        #expect(say(HTTPClientError.deadlineExceeded).hasPrefix("10.0.0.12:7070 accepted the connection but sent no answer within 30 s"))
        #expect(say(HTTPClientError.remoteConnectionClosed) == "10.0.0.12:7070 closed the connection before answering (did the agent stop or restart?)")
        #expect(say(IOError(errnoCode: ECONNRESET, reason: "read")) == say(HTTPClientError.remoteConnectionClosed))
    }

    @Test func noMessageIsEmptyOrRaw() {
        for error: any Error in [IOError(errnoCode: EACCES, reason: "connect"), HTTPClientError.invalidURL, CancellationError()] {
            let message = say(error)
            #expect(message.hasPrefix("cannot talk to 10.0.0.12:7070: ") && message.count > "cannot talk to 10.0.0.12:7070: ".count, "\(message)")
            #expect(!message.contains("errno"), "\(message)")
        }
    }
}
