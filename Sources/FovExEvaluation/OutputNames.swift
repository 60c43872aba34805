import Foundation

/// File-name stems for outputs written side by side, one per input, that never collide.
public enum OutputNames {
    /// Each file's name without its extension where no other input shares it (`cat.jpg` → `cat`),
    /// else its full name (`a.jpg` and `a.png` → `a.jpg`, `a.png`), else that name with a number
    /// (`d1/x.jpg`, `d2/x.jpg` → `x.jpg`, `x.jpg-2`), in input order.
    public static func stems(for files: [URL]) -> [String] {
        let plain = files.map { ($0.lastPathComponent as NSString).deletingPathExtension }
        let counts = plain.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        var used = Set<String>()
        return files.enumerated().map { i, file in
            let base = counts[plain[i]] == 1 ? plain[i] : file.lastPathComponent
            var name = base, n = 1
            while used.contains(name) { n += 1; name = "\(base)-\(n)" }
            used.insert(name)
            return name
        }
    }
}
