import Foundation
import FovExCheckpoints

/// A small CSV reader for the data sets' metadata files (comma-separated, optional double quotes,
/// first line a header).
struct CSVTable {
    let header: [String]
    let rows: [[String]]
    let url: URL

    init(url: URL) throws {
        self.url = url
        if let problem = regularFileProblem(at: url) { throw DatasetError.unreadable(url, problem) }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DatasetError.unreadable(url, error.localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw DatasetError.malformed(url, "not UTF-8 text") }
        var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        guard !lines.isEmpty else { throw DatasetError.malformed(url, "empty file") }
        header = CSVTable.fields(String(lines.removeFirst()))
        rows = lines.map { CSVTable.fields(String($0)) }
        for (i, r) in rows.enumerated() where r.count != header.count {
            throw DatasetError.malformed(url, "line \(i + 2) has \(r.count) fields, the header has \(header.count)")
        }
    }

    /// The index of a required column.
    func column(_ name: String) throws -> Int {
        guard let i = header.firstIndex(of: name) else {
            throw DatasetError.malformed(url, "missing column '\(name)' (columns: \(header.joined(separator: ", ")))")
        }
        return i
    }

    static func fields(_ line: String) -> [String] {
        var out: [String] = [], field = "", quoted = false
        var it = line.makeIterator()
        while let ch = it.next() {
            if quoted {
                if ch == "\"" { quoted = false } else { field.append(ch) }
            } else if ch == "\"" {
                quoted = true
            } else if ch == "," {
                out.append(field); field = ""
            } else {
                field.append(ch)
            }
        }
        out.append(field)
        return out.map { $0.trimmingCharacters(in: .whitespaces) }
    }
}

/// A data set that cannot be read; each message names the file and the problem.
public enum DatasetError: Error, CustomStringConvertible {
    /// The file or directory cannot be read; the system's reason.
    case unreadable(URL, String)
    /// A file's contents are wrong: a missing column, a bad number, an unknown synset (the message names the line).
    case malformed(URL, String)
    /// The directory has none of the recognised layouts; the message says what was looked for.
    case layoutNotRecognised(URL, String)
    /// The data set lists no images.
    case empty(URL)

    public var description: String {
        switch self {
        case let .unreadable(u, why): return "\(u.path): cannot read: \(why)"
        case let .malformed(u, why): return "\(u.path): \(why)"
        case let .layoutNotRecognised(u, why): return "\(u.path): not a recognised data set layout: \(why)"
        case let .empty(u): return "\(u.path): the data set lists no images"
        }
    }
}
