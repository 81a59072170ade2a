"""channels/chat"""
