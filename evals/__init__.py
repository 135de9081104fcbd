"""routeweave.evals"""
