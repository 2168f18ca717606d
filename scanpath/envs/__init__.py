"""scanpath.envs"""
