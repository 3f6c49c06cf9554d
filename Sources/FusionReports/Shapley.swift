import Foundation

/// Exact Shapley values of a cooperative game with few players.
public enum Shapley {
    /// The Shapley value of each of `players` players, from `value[mask]` (bit i of the mask:
    /// player i present; 2^players values): `φ_i = Σ_{S ∌ i} |S|! (n − |S| − 1)! / n! · (v(S ∪ {i}) − v(S))`.
    /// The values sum to `value[all] − value[none]`.
    public static func values(_ value: [Double], players: Int) -> [Double] {
        precondition(value.count == 1 << players, "Shapley: \(value.count) values for \(players) players")
        func factorial(_ n: Int) -> Double { n <= 1 ? 1 : (2...n).reduce(1.0) { $0 * Double($1) } }
        return (0..<players).map { i in
            var phi = 0.0
            for mask in 0..<(1 << players) where mask & (1 << i) == 0 {
                let size = mask.nonzeroBitCount
                phi += factorial(size) * factorial(players - size - 1) / factorial(players) * (value[mask | (1 << i)] - value[mask])
            }
            return phi
        }
    }
}
