import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// Why no answer came from an agent, found from the error's type and errno rather than its
/// text, and said as a person would: what happened, to which address, and what to check.
/// (NIO's own words for a lost route are "connection reset (error set): No route to host",
/// which names a reset that never happened.)
enum ConnectionFailure: Equatable {
    case refused
    case noRoute
    /// Nothing came back while connecting (packets dropped: a firewall, a dead link).
    case noAnswerConnecting
    /// Connected, but no answer within the request's timeout.
    case noAnswer
    /// The agent closed the connection before answering (it stopped or restarted).
    case closed
    case unresolvable
    case other(String)

    init(_ error: any Error) {
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .connectTimeout: self = .noAnswerConnecting
            case .deadlineExceeded, .readTimeout, .writeTimeout: self = .noAnswer
            case .remoteConnectionClosed: self = .closed
            default: self = .other("\(error)")
            }
        case let error as ChannelError:
            switch error {
            case .connectTimeout: self = .noAnswerConnecting
            case .eof, .ioOnClosedChannel, .outputClosed, .inputClosed, .alreadyClosed: self = .closed
            default: self = .other("\(error)")
            }
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first {
                self = ConnectionFailure(first.error)
            } else if error.dnsAError != nil || error.dnsAAAAError != nil {
                self = .unresolvable
            } else {
                self = .other("\(error)")
            }
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED: self = .refused
            case EHOSTUNREACH, ENETUNREACH, ENETDOWN, EHOSTDOWN: self = .noRoute
            case ETIMEDOUT: self = .noAnswerConnecting
            case ECONNRESET, EPIPE: self = .closed
            default: self = .other(String(cString: strerror(error.errnoCode)))
            }
        default:
            self = .other("\(error)")
        }
    }

    /// The sentence for an agent at `address` (`host:port`).
    func message(address: String, connectTimeout: Duration, timeout: Duration) -> String {
        let host = address.split(separator: ":").dropLast().joined(separator: ":")
        switch self {
        case .refused: return "connection refused by \(address) (is the agent running?)"
        case .noRoute: return "no route to host \(host.isEmpty ? address : host) (is it up, and is the address right?)"
        case .noAnswerConnecting: return "no answer from \(address) within \(Self.seconds(connectTimeout)) (is it up, or are packets dropped on the way?)"
        case .noAnswer: return "\(address) accepted the connection but sent no answer within \(Self.seconds(timeout)) (raise --timeout for slow operations)"
        case .closed: return "\(address) closed the connection before answering (did the agent stop or restart?)"
        case .unresolvable: return "cannot resolve \(host) (check the address in the inventory)"
        case .other(let text): return "cannot talk to \(address): \(text)"
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }
}
