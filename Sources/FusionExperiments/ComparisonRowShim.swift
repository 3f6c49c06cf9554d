// Temporary until the notebook exporter lands (it defines ComparisonRow).
public struct ComparisonRow {
    public var variant: String
    public var values: [String: (mean: Double, std: Double)]
    public var parameters: Int
    public var trainSeconds: Double
    public var runs: Int
    public var isBest: Bool
}
