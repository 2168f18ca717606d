"""scanpath.stimuli"""
