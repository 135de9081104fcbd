"""routeweave.policies"""
