import Foundation
import LoupeIO
import LoupeTensor

/// Results that the instruction-set runs compare (see `InstructionSetTests`).
///
/// `InstructionSetTests` runs a subset of the suite in child processes, once under the host's
/// instruction set and once under each smaller one oneDNN can be capped to; each child writes the
/// results its tests ``record(_:_:)`` into the folder `LOUPE_ISA_RESULTS` names, and the parent
/// checks that every instruction set computed the same values. Outside such a run, recording does
/// nothing.
public enum InstructionSetRecording {
    /// The folder a child run writes into; `nil` outside a child run.
    public static let directory = ProcessInfo.processInfo.environment["LOUPE_ISA_RESULTS"]

    /// The file name ending of a result's magnitude, beside the result's `.npy`.
    public static let magnitudeSuffix = ".magnitude.npy"

    /// Saves `tensor` as `name.npy` in the run's folder, when this is a child run.
    ///
    /// - Parameter magnitude: the size of the values `tensor` was computed from, when it is their
    ///   difference (occlusion: model scores), so that agreement is judged against it.
    public static func record(_ name: String, _ tensor: Tensor, magnitude: Float? = nil) {
        guard let directory else { return }
        let file = String(name.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        let folder = URL(fileURLWithPath: directory)
        do {
            try NPY.write(tensor, to: folder.appendingPathComponent(file + ".npy").path)
            if let magnitude {
                try NPY.write(
                    Tensor(shape: [], scalars: [magnitude]), to: folder.appendingPathComponent(file + magnitudeSuffix).path)
            }
        } catch {
            fatalError("could not record \(name) for the instruction-set comparison: \(error)")
        }
    }
}
