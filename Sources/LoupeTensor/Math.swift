#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Scalar functions from the C math library, in one place so other files need no platform imports.
@inline(__always) func scalarExp(_ x: Float) -> Float { expf(x) }
@inline(__always) func scalarLog(_ x: Float) -> Float { logf(x) }
@inline(__always) func scalarPow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
@inline(__always) func scalarTanh(_ x: Float) -> Float { tanhf(x) }
@inline(__always) func scalarErf(_ x: Float) -> Float { erff(x) }
@inline(__always) func scalarLog1p(_ x: Float) -> Float { log1pf(x) }
