import LoupeTensor

extension ExplanationMetric {
    /// Quantus' `RegionPerturbation` (Samek et al., 2017), most relevant first: the input is cut
    /// into `patch`-pixel squares (the grid centred, as Quantus pads the image to whole patches,
    /// the odd pixel at the end), ranked by the sum of the map over each (the map broadcast to
    /// the channels, as Quantus does), and the first `regions`
    /// are set, every channel, to the input's smallest value ("black") one after another. The
    /// curve is Quantus' own: the target's probability drop, f(x) − f(x⁽ᵏ⁾), after each region;
    /// the scalar is Samek et al.'s AOPC, the drops summed over k = 0 … L (the first is 0) and
    /// divided by L + 1.
    public static let regionPerturbation = ExplanationMetric(
        name: "region-perturbation",
        summary:
            "Probability drop as the most relevant squares are set to the input's minimum, one by one (Quantus RegionPerturbation, AOPC)",
        direction: .higherIsBetter,
        parameters: [
            Parameter("patch", default: 8, count: true, "The squares' side in pixels (Quantus' patch_size)"),
            Parameter(
                "regions", default: 100, count: true, "How many squares are perturbed, at most (Quantus' regions_evaluation)"),
        ]
    ) { context in
        let (channels, height, width) = (context.input.shape[1], context.input.shape[2], context.input.shape[3])
        let patch = context.count("patch")
        let broadcast = context.broadcastMap
        // Quantus pads each side to whole patches, the smaller half before: floor(p − H mod p) / 2.
        let (top, left) = (
            height % patch == 0 ? 0 : (patch - height % patch) / 2, width % patch == 0 ? 0 : (patch - width % patch) / 2
        )
        let (blocksDown, blocksAcross) = ((top + height + patch - 1) / patch, (left + width + patch - 1) / patch)
        var regions: [[Int]] = []
        var sums: [Float] = []
        for blockRow in 0..<blocksDown {
            for blockColumn in 0..<blocksAcross {
                let rowRange = Swift.max(blockRow * patch - top, 0)..<Swift.min((blockRow + 1) * patch - top, height)
                let columnRange = Swift.max(blockColumn * patch - left, 0)..<Swift.min((blockColumn + 1) * patch - left, width)
                let indices = (0..<channels).flatMap { channel in
                    rowRange.flatMap { row in columnRange.map { channel * height * width + row * width + $0 } }
                }
                regions.append(indices)
                sums.append(indices.reduce(0) { $0 + broadcast[$1] })
            }
        }
        let order = descendingOrder(sums).prefix(context.count("regions"))
        let input = context.input.scalars
        let black = input.min() ?? 0
        let probabilities = perturbationCurve(
            context, from: input, to: [Float](repeating: black, count: input.count), steps: order.map { regions[$0][...] },
            includingStart: true)
        let drops = probabilities.dropFirst().map { probabilities[0] - $0 }
        return Result(value: drops.reduce(0, +) / Float(drops.count + 1), curve: drops)
    }
}
