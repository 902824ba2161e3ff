print("corrald")
