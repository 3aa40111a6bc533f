import ArgumentParser
import Loupe

// The enum-like options take their values from these types, so the help lists them and a wrong
// value is refused, with the choices, before any work.

extension Colormap: ExpressibleByArgument {}
extension ChannelReduction: ExpressibleByArgument {}
extension OverlayStyle: ExpressibleByArgument {}

/// `--rule`: integrated gradients' quadrature.
enum IntegrationRule: String, CaseIterable, ExpressibleByArgument {
    case gausslegendre
    case riemannTrapezoid = "riemann-trapezoid"

    var rule: IntegratedGradients.Rule {
        switch self {
        case .gausslegendre: .gaussLegendre
        case .riemannTrapezoid: .riemannTrapezoid
        }
    }
}

/// `--scaling`: how map values become colors.
enum ScalingChoice: String, CaseIterable, ExpressibleByArgument {
    case minmax
    case symmetric
    /// Captum's outlier clipping: the top 2% of |values| saturate.
    case percentile

    var scaling: MapScaling {
        switch self {
        case .minmax: .minMax
        case .symmetric: .symmetric
        case .percentile: .percentile(outlierPercent: 2)
        }
    }
}
