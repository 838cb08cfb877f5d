import DroverCLI
import Foundation

exit(await Drover.run(Array(CommandLine.arguments.dropFirst())))
