/*
 * DECLARATION-ONLY STAND-IN for the Arduino Ethernet library (>= 2.0) API,
 * used solely to compile-check src/firmware/arduino/ with avr-g++ -c:
 * Debian ships no Ethernet library. Nothing here is implemented and nothing
 * here is linked; users build against the real library in the Arduino IDE
 * (Library Manager: "Ethernet" by Arduino, which drives the W5100 of a
 * Controllino MAXI/MEGA). Signatures follow Ethernet 2.0.x Ethernet.h.
 */
#ifndef ETHERNET_DECL_ONLY_H
#define ETHERNET_DECL_ONLY_H

#include <Arduino.h>
#include "Client.h"
#include "IPAddress.h"
#include "Server.h"

#define MAX_SOCK_NUM 4

enum EthernetLinkStatus { Unknown, LinkON, LinkOFF };
enum EthernetHardwareStatus { EthernetNoHardware, EthernetW5100,
	EthernetW5200, EthernetW5500 };

class EthernetClass {
public:
	static int begin(uint8_t *mac, unsigned long timeout = 60000,
	    unsigned long responseTimeout = 4000);
	static int maintain();
	static EthernetLinkStatus linkStatus();
	static EthernetHardwareStatus hardwareStatus();
	static void begin(uint8_t *mac, IPAddress ip);
	static void begin(uint8_t *mac, IPAddress ip, IPAddress dns);
	static void begin(uint8_t *mac, IPAddress ip, IPAddress dns,
	    IPAddress gateway);
	static void begin(uint8_t *mac, IPAddress ip, IPAddress dns,
	    IPAddress gateway, IPAddress subnet);
	static void init(uint8_t sspin = 10);
	static IPAddress localIP();
};

extern EthernetClass Ethernet;

class EthernetClient : public Client {
public:
	EthernetClient();
	EthernetClient(uint8_t s);
	uint8_t status();
	virtual int connect(IPAddress ip, uint16_t port);
	virtual int connect(const char *host, uint16_t port);
	virtual int availableForWrite(void);
	virtual size_t write(uint8_t);
	virtual size_t write(const uint8_t *buf, size_t size);
	virtual int available();
	virtual int read();
	virtual int read(uint8_t *buf, size_t size);
	virtual int peek();
	virtual void flush();
	virtual void stop();
	virtual uint8_t connected();
	virtual operator bool();
	virtual bool operator==(const bool value);
	virtual bool operator!=(const bool value);
	virtual bool operator==(const EthernetClient &);
	virtual bool operator!=(const EthernetClient &rhs);
	uint8_t getSocketNumber() const;
	virtual uint16_t localPort();
	virtual IPAddress remoteIP();
	virtual uint16_t remotePort();
	virtual void setConnectionTimeout(uint16_t timeout);

	using Print::write;
};

class EthernetServer : public Server {
public:
	EthernetServer(uint16_t port);
	EthernetClient available();
	EthernetClient accept();
	virtual void begin();
	virtual size_t write(uint8_t);
	virtual size_t write(const uint8_t *buf, size_t size);
	virtual operator bool();

	using Print::write;
};

#endif
