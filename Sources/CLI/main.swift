print("mcvd: subcommands arrive with the engine")
