// FusionReports: what a researcher reads — metrics, comparison tables, notebooks with SVG
// figures, TensorBoard event files — written from plain values, independent of how the runs
// were trained.
import Foundation
import FusionCore

