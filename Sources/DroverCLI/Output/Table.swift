import DroverCore
import DroverTOML
import Foundation

/// A table as people read them: a header, columns aligned on their widest cell, two spaces
/// between columns, no trailing blanks. Widths count Unicode scalars' columns roughly (one
/// per `Character`); colour codes are not added to cells, so alignment holds.
public struct Table: Sendable {
    public var columns: [String]
    public var rows: [[String]]

    public init(columns: [String], rows: [[String]] = []) {
        self.columns = columns
        self.rows = rows
    }

    public func render() -> String {
        let all = [columns] + rows
        let widths = columns.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                column == row.count - 1 ? row[column] : row[column].padding(toLength: widths[column])
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}

/// Human figures for tables.
enum Figures {
    static func bytes(_ value: UInt64?) -> String {
        value.map(HumanUnits.describe(bytes:)) ?? "-"
    }

    static func cores(_ value: Double?) -> String {
        guard let value else { return "-" }
        return String(format: "%.2f", value)
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.1fs", duration.seconds)
    }
}
