import Foundation
import FusionData
import FusionReports

extension TestOutcomes {
    /// A run's predictions.csv (`id,label,predicted,p_<class>…`) read back: class indices in
    /// the order of its probability columns. Errors name the file and line.
    public static func read(predictionsCSV path: String) throws -> TestOutcomes {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ExperimentError("\(path): cannot read the predictions (\(error.localizedDescription))")
        }
        let rows = try CSV.rows(text, delimiter: ",", file: path)
        let columns = rows.first?.values ?? []
        let classes = columns.filter { $0.hasPrefix("p_") }.map { String($0.dropFirst(2)) }
        guard !classes.isEmpty else { throw ExperimentError("\(path): no probability columns (p_<class>) in the header") }
        let index = Dictionary(classes.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var outcomes = TestOutcomes(ids: [], labels: [], predictions: [], trueProbabilities: [], classCount: classes.count)
        for (line, values) in rows.dropFirst() {
            guard values.count == columns.count else { throw ExperimentError("\(path):\(line): \(values.count) fields, the header has \(columns.count)") }
            let fields = Dictionary(zip(columns, values).map { ($0, $1) }, uniquingKeysWith: { a, _ in a })
            guard let id = fields["id"], let label = fields["label"].flatMap({ index[$0] }),
                  let predicted = fields["predicted"].flatMap({ index[$0] }),
                  let p = fields["p_" + classes[label]].flatMap(Double.init), p.isFinite, p >= 0, p <= 1 else {
                throw ExperimentError("\(path):\(line): expected an id, a label and a prediction among the classes, and a probability in [0, 1]")
            }
            outcomes.ids.append(id); outcomes.labels.append(label); outcomes.predictions.append(predicted)
            outcomes.trueProbabilities.append(p)
        }
        return outcomes
    }
}
