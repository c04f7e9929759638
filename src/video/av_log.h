/* FFmpeg's log messages through the library's log callback (base/log.h): warnings and errors as warnings (the
 * failure itself comes back as a status), everything else down to info level (libx264's banner and statistics)
 * as debug. Installed once, process-wide (FFmpeg has one log callback), by the first MP4 written or read. */
#ifndef RAD_VIDEO_AV_LOG_H
#define RAD_VIDEO_AV_LOG_H
#ifdef RAD_HAVE_FFMPEG
void rad_av_log_install(void);
#endif
#endif
