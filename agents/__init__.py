"""routeweave.agents"""
