import ArgumentParser

@main
struct LoupeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loupe",
        abstract: "See inside a convolutional image classifier.",
        discussion: "Layer activations, saliency, Grad-CAM and more, on a Swift tensor engine running oneDNN.",
        version: loupeVersion,
        subcommands: [Predict.self, Explain.self, Activations.self, Filters.self, Summary.self, Train.self, Evaluate.self, Demo.self]
    )
}

let loupeVersion = "0.1.0"
