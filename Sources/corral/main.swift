print("corral: not implemented yet")
