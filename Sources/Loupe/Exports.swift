// `import Loupe` brings in every library layer.
@_exported import LoupeBatch
@_exported import LoupeExplain
@_exported import LoupeIO
@_exported import LoupeNN
@_exported import LoupeRender
@_exported import LoupeTensor
