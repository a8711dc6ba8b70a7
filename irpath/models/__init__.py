"""Model builders: functions returning functional ``keras.Model``s."""
