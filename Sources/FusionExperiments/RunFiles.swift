import Foundation
@_exported import FusionReports
import FusionTensor

