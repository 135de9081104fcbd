"""routeweave.graphs"""
