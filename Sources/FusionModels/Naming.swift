// Names in error messages: JSON spelling and "did you mean" hints, shared by the experiment
// format and the layer-stack decoder.

@_exported import FusionCore

/// `camelCase` → `camel_case`, as JSONEncoder's `.convertToSnakeCase`.
public func snakeCase(_ name: String) -> String {
    var out = ""
    let chars = Array(name)
    for (i, c) in chars.enumerated() {
        if c.isUppercase {
            let prevLower = i > 0 && !chars[i - 1].isUppercase
            let nextLower = i + 1 < chars.count && chars[i + 1].isLowercase
            if i > 0 && (prevLower || nextLower) { out.append("_") }
            out.append(contentsOf: c.lowercased())
        } else {
            out.append(c)
        }
    }
    return out
}

/// The candidate closest to `key` by edit distance, if close enough to be a plausible typo;
/// otherwise a candidate that contains `key` or is contained in it (`lr` → `lr_multipliers`).
public func nearestName(_ key: String, among candidates: [String]) -> String? {
    var best: (key: String, distance: Int)?
    for candidate in candidates.sorted() {
        let d = editDistance(key, candidate)
        if best == nil || d < (best?.distance ?? Int.max) { best = (candidate, d) }
    }
    guard let best else { return nil }
    if best.distance <= Swift.max(2, key.count / 3) { return best.key }
    if let part = candidates.filter({ $0.contains(key) || key.contains($0) }).sorted().first { return part }
    // An abbreviation ("attn" for "attention"): same first letter, its letters in order, one candidate only.
    let abbreviated = candidates.filter { candidate in
        guard candidate.first == key.first, key.count >= 2 else { return false }
        var rest = Substring(candidate)
        for c in key {
            guard let i = rest.firstIndex(of: c) else { return false }
            rest = rest[rest.index(after: i)...]
        }
        return true
    }
    return abbreviated.count == 1 ? abbreviated.first : nil
}

/// Levenshtein distance between two strings, by characters.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    guard !x.isEmpty else { return y.count }
    guard !y.isEmpty else { return x.count }
    var previous = Array(0...y.count)
    for i in 1...x.count {
        var current = [i] + [Int](repeating: 0, count: y.count)
        for j in 1...y.count {
            current[j] = Swift.min(previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1), previous[j] + 1, current[j - 1] + 1)
        }
        previous = current
    }
    return previous[y.count]
}
