"""gateway/ports"""
